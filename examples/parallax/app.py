"""Parallax: infer a collection's schema from its documents, apply it as the collection's
validator, and watch the documents drift away from it (served under /apps/parallax)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import BulkWriteError, OperationFailure, WriteError

from mdb_engine import ScopedDatabase, ScopeViolation
from mdb_engine.host import get_app_db

from .documents import BadDocuments, parse_documents, to_json
from .drift import new_fields, schema_diff
from .inference import infer_schema
from .validation import (
    HISTORY_COLLECTION,
    apply_validator,
    collection_options,
    non_conforming,
    record_version,
    sample_documents,
    schema_versions,
)

logger = logging.getLogger(__name__)

router = APIRouter()
AppDb = Annotated[ScopedDatabase, Depends(get_app_db)]
SampleSize = Annotated[int, Query(ge=1, le=1000, description="newest documents to sample")]

VALIDATION_FAILED = 121  # MongoDB's DocumentValidationFailure
DUPLICATE_KEY = 11000


class InferOptions(BaseModel):
    """How to infer: how many of the newest documents to read, and whether unknown fields are
    refused (``additionalProperties: false``)."""

    model_config = ConfigDict(extra="forbid")
    sample_size: int = Field(default=100, ge=1, le=1000)
    strict: bool = False


class ApplyRequest(InferOptions):
    """A schema to apply (a ``$jsonSchema`` document, or ``"infer"`` to infer one now) and
    MongoDB's validation settings."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_: dict[str, Any] | Literal["infer"] = Field(default="infer", alias="schema")
    validation_level: Literal["strict", "moderate", "off"] = Field(
        default="strict", alias="validationLevel"
    )
    validation_action: Literal["error", "warn"] = Field(default="error", alias="validationAction")


def checked_name(name: str) -> str:
    """``name`` if the documents API may use it (the history collection is the app's own)."""
    if name == HISTORY_COLLECTION:
        raise HTTPException(400, f"{HISTORY_COLLECTION!r} is reserved for the schema history")
    return name


async def inferred(db: ScopedDatabase, name: str, options: InferOptions) -> dict[str, Any]:
    """A fresh inference from the newest documents of ``name``; 404 when there are none."""
    documents = await sample_documents(db, name, options.sample_size)
    if not documents:
        raise HTTPException(404, f"collection {name!r} has no documents to infer a schema from")
    return {"sampled": len(documents), "schema": infer_schema(documents, strict=options.strict)}


def applied_validator(options: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """The validator in a collection's options; 404/409 when there is no collection or none."""
    if options is None:
        raise HTTPException(404, f"collection {name!r} does not exist")
    validator = options.get("validator")
    if not validator:
        raise HTTPException(409, f"collection {name!r} has no validator: apply a schema first")
    return dict(validator)


def described(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A collection's validation settings as the API reports them (MongoDB's defaults when
    unset)."""
    return {
        "collection": name,
        "validator": to_json(options.get("validator")),
        "validationLevel": options.get("validationLevel", "strict"),
        "validationAction": options.get("validationAction", "error"),
    }


def refused_write(error: WriteError | BulkWriteError) -> HTTPException:
    """The HTTP error for a write the server refused: 422 with MongoDB's ``errInfo`` for a
    validation failure, 409 for a duplicate ``_id``."""
    if isinstance(error, BulkWriteError):
        first = error.details["writeErrors"][0]
        stored = error.details.get("nInserted", 0)
    else:
        first, stored = error.details or {}, 0
    code, index = first.get("code"), first.get("index", 0)
    if code == VALIDATION_FAILED:
        return HTTPException(
            422,
            {
                "message": f"document {index} failed validation; {stored} stored before it",
                "index": index,
                "stored": stored,
                "errInfo": to_json(first.get("errInfo")),
            },
        )
    if code == DUPLICATE_KEY:
        return HTTPException(409, f"document {index} has an _id already stored ({stored} stored)")
    return HTTPException(400, f"document {index} refused: {first.get('errmsg')}")


@router.get("/")
async def home() -> dict[str, Any]:
    """Where to start."""
    return {"app": "parallax", "collections": "collections"}


@router.get("/collections")
async def list_collections(db: AppDb) -> list[dict[str, Any]]:
    """The app's collections and whether each has a validator."""
    cursor = await db.list_collections()
    infos = await cursor.to_list()
    return [
        {"collection": info["name"], "has_validator": "validator" in info.get("options", {})}
        for info in sorted(infos, key=lambda info: info["name"])
        if info["name"] != HISTORY_COLLECTION
    ]


@router.post("/collections/{name}/documents", status_code=201)
async def add_documents(
    name: str, request: Request, db: AppDb, parse_dates: bool = True
) -> dict[str, Any]:
    """Store one document or a list of them (Extended JSON; ISO date-time strings become dates
    unless ``parse_dates=false``). A list is inserted in order and stops at the first refusal."""
    try:
        documents = parse_documents(await request.body(), parse_dates=parse_dates)
        collection = db.get_collection(checked_name(name))
        if len(documents) == 1:
            ids = [(await collection.insert_one(documents[0])).inserted_id]
        else:
            ids = (await collection.insert_many(documents)).inserted_ids
    except (BadDocuments, ScopeViolation) as error:
        raise HTTPException(400, str(error)) from None
    except (WriteError, BulkWriteError) as error:
        raise refused_write(error) from None
    return {"collection": name, "inserted": len(ids), "ids": to_json(ids)}


@router.get("/collections/{name}/documents")
async def newest_documents(
    name: str, db: AppDb, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[Any]:
    """The newest documents of a collection."""
    try:
        documents = await sample_documents(db, checked_name(name), limit)
    except ScopeViolation as error:
        raise HTTPException(400, str(error)) from None
    return [to_json(document, drop_app_id=True) for document in documents]


@router.post("/collections/{name}/schema/infer")
async def infer(name: str, db: AppDb, options: InferOptions | None = None) -> dict[str, Any]:
    """The schema the newest documents of ``name`` match (nothing is applied)."""
    try:
        result = await inferred(db, checked_name(name), options or InferOptions())
    except ScopeViolation as error:
        raise HTTPException(400, str(error)) from None
    return {"collection": name, **result}


@router.post("/collections/{name}/schema/apply")
async def apply(name: str, body: ApplyRequest, db: AppDb) -> dict[str, Any]:
    """Make a schema (given, or inferred now) the validator of ``name`` with ``collMod``."""
    try:
        checked_name(name)
        if body.schema_ == "infer":
            schema, source = (await inferred(db, name, body))["schema"], "infer"
        else:
            schema, source = body.schema_, "given"
            if set(schema) == {"$jsonSchema"}:  # a whole validator was sent
                schema = schema["$jsonSchema"]
        options = await apply_validator(
            db,
            name,
            {"$jsonSchema": schema},
            body.validation_level,
            body.validation_action,
        )
    except ScopeViolation as error:
        raise HTTPException(400, str(error)) from None
    except OperationFailure as error:
        # MongoDB parses the schema: an invalid one comes back as an error to show the caller.
        reason = (error.details or {}).get("errmsg")
        detail = {"message": "MongoDB refused the schema", "code": error.code, "errmsg": reason}
        raise HTTPException(400, detail) from None
    await record_version(db, name, options, source)
    return {**described(name, options), "source": source}


@router.get("/collections/{name}/schema")
async def current_schema(name: str, db: AppDb) -> dict[str, Any]:
    """The validator applied to ``name`` (``null`` when none is)."""
    try:
        options = await collection_options(db, checked_name(name))
    except ScopeViolation as error:
        raise HTTPException(400, str(error)) from None
    if options is None:
        raise HTTPException(404, f"collection {name!r} does not exist")
    return described(name, options)


@router.get("/collections/{name}/schema/history")
async def history(
    name: str, db: AppDb, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[Any]:
    """The schemas applied to ``name``, newest first."""
    return [to_json(version) for version in await schema_versions(db, checked_name(name), limit)]


@router.get("/collections/{name}/drift")
async def drift(
    name: str,
    db: AppDb,
    sample_size: SampleSize = 100,
    examples: Annotated[int, Query(ge=0, le=50)] = 5,
) -> dict[str, Any]:
    """How ``name`` has drifted from its validator: documents that fail it, fields the newest
    documents have that it does not describe, and a fresh inference compared with it."""
    try:
        options = await collection_options(db, checked_name(name))
    except ScopeViolation as error:
        raise HTTPException(400, str(error)) from None
    validator = applied_validator(options, name)
    count, failing = await non_conforming(db, name, validator, examples)
    documents = await sample_documents(db, name, sample_size)
    applied = validator.get("$jsonSchema", {})
    fresh = infer_schema(documents) if documents else None
    return {
        "collection": name,
        "sampled": len(documents),
        "non_conforming": {
            "count": count,
            "examples": [to_json(document, drop_app_id=True) for document in failing],
        },
        "new_fields": new_fields(documents, applied),
        "diff": schema_diff(applied, fresh) if fresh else None,
    }
