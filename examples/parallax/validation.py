"""The app's MongoDB side: sample documents, read and apply a collection's validator, keep the
history of applied schemas. Every call goes through the app's scoped database."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from mdb_engine import ScopedDatabase

__all__ = [
    "HISTORY_COLLECTION",
    "apply_validator",
    "collection_options",
    "non_conforming",
    "record_version",
    "sample_documents",
    "schema_versions",
]

logger = logging.getLogger(__name__)

# Where every applied schema is recorded; not open to the documents API.
HISTORY_COLLECTION = "schema_versions"


async def sample_documents(db: ScopedDatabase, name: str, size: int) -> list[dict[str, Any]]:
    """The newest ``size`` documents of collection ``name`` (by ``_id``: ObjectIds grow with
    time)."""
    cursor = db.get_collection(name).find().sort("_id", -1).limit(size)
    return await cursor.to_list()


async def collection_options(db: ScopedDatabase, name: str) -> dict[str, Any] | None:
    """The ``listCollections`` options of collection ``name`` (validator, validationLevel,
    validationAction…), or ``None`` when the collection does not exist."""
    cursor = await db.list_collections(filter={"name": name})
    infos = await cursor.to_list()
    if not infos:
        return None
    options: dict[str, Any] = infos[0].get("options", {})
    return options


async def apply_validator(
    db: ScopedDatabase, name: str, validator: Mapping[str, Any], level: str, action: str
) -> dict[str, Any]:
    """Make ``validator`` the validator of collection ``name`` (``collMod``, or a new collection
    created with it) and return the collection's options as the server now reports them."""
    if await collection_options(db, name) is None:
        await db.create_collection(
            name, validator=validator, validationLevel=level, validationAction=action
        )
    else:
        await db.command(
            "collMod", name, validator=validator, validationLevel=level, validationAction=action
        )
    logger.info("validator of %s applied (level %s, action %s)", name, level, action)
    return await collection_options(db, name) or {}


async def non_conforming(
    db: ScopedDatabase, name: str, validator: Mapping[str, Any], examples: int
) -> tuple[int, list[dict[str, Any]]]:
    """How many documents of ``name`` fail ``validator``, and the newest few of them."""
    failing = {"$nor": [dict(validator)]}
    collection = db.get_collection(name)
    count = await collection.count_documents(failing)
    found = await collection.find(failing).sort("_id", -1).limit(examples).to_list()
    return count, found


async def record_version(
    db: ScopedDatabase, name: str, options: Mapping[str, Any], source: str
) -> None:
    """Add the options just applied to ``name`` to its schema history."""
    await db.get_collection(HISTORY_COLLECTION).insert_one(
        {
            "collection": name,
            "validator": options.get("validator"),
            "validationLevel": options.get("validationLevel"),
            "validationAction": options.get("validationAction"),
            "source": source,
            "applied_at": datetime.datetime.now(datetime.timezone.utc),
        }
    )


async def schema_versions(db: ScopedDatabase, name: str, limit: int) -> list[dict[str, Any]]:
    """The schemas applied to ``name``, newest first."""
    cursor = db.get_collection(HISTORY_COLLECTION).find(
        {"collection": name}, {"_id": 0, "app_id": 0}
    )
    return await cursor.sort("applied_at", -1).limit(limit).to_list()
