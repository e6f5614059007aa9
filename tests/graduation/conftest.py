"""Shared pieces of the graduation tests: an app with every kind of data, a second database,
and snapshots of what a database really holds (raw BSON, indexes, options)."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bson
import pytest
import pytest_asyncio
from bson import (
    Binary,
    Code,
    DBRef,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
)
from bson.codec_options import CodecOptions
from bson.datetime_ms import DatetimeMS
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, MongoClient

from mdb_engine import MongoDBEngine
from mdb_engine.core.registry_store import REGISTRY_COLLECTION
from mdb_engine.core.seeding import SEED_MARKERS_COLLECTION
from mdb_engine.testing import CommandLog
from tests.auth.conftest import secret_key  # noqa: F401 (autouse fixture)

RawClient = AsyncMongoClient[dict[str, Any]]

# Every index kind the manifest can declare, on collections with and without settings.
MANIFEST: dict[str, Any] = {
    "schema_version": "2.0",
    "slug": "shop",
    "name": "Shop",
    "managed_indexes": {
        "tasks": [
            {"keys": {"status": 1, "created_at": -1}, "name": "status_sort"},
            {"keys": {"sku": 1}, "unique": True},
            {"keys": {"nickname": 1}, "sparse": True},
            {
                "type": "partial",
                "keys": {"score": 1},
                "partialFilterExpression": {"score": {"$gt": 5}},
            },
            {"type": "ttl", "keys": {"expires_at": 1}, "expireAfterSeconds": 3600},
            {"type": "text", "keys": {"title": "text", "body": "text"}, "weights": {"title": 10}},
            {"type": "hashed", "keys": {"owner": "hashed"}},
            {"keys": {"name": 1}, "collation": {"locale": "en", "strength": 2}},
            {"keys": {"legacy": 1}, "hidden": True},
            {"type": "wildcard", "keys": {"attributes.$**": 1}},
        ],
        "places": [{"type": "geospatial", "keys": {"loc": "2dsphere"}}],
        "people": [{"keys": {"surname": 1}}, {"type": "text", "keys": {"bio": "text"}}],
    },
    "collection_settings": {
        "people": {"collation": {"locale": "fr", "strength": 2}},
        "log": {"capped": True, "size": 1048576, "max": 1000},
        "strict": {
            "validator": {
                "$jsonSchema": {
                    "bsonType": "object",
                    "required": ["label"],
                    "properties": {"_id": {}, "label": {"bsonType": "string"}},
                    "additionalProperties": False,
                }
            },
            "validation_level": "strict",
        },
    },
    "initial_data": {"tags": [{"name": "home"}, {"name": "work"}]},
    "auth": {
        "users": {
            "enabled": True,
            "strategy": "app_users",
            "demo_users": [{"email": "demo@example.com", "password": "demo-password-1234"}],
        }
    },
}


def every_type_document(number: int) -> dict[str, Any]:
    """A document holding every BSON type the driver can write."""
    return {
        "_id": ObjectId(),
        "sku": f"sku-{number}",
        "status": "open" if number % 2 else "done",
        "created_at": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        "far_future": DatetimeMS(253_402_300_800_000 + number),  # year 10000: not a datetime
        "score": number,
        "big": Int64(2**40 + number),
        "price": Decimal128(f"{number}.10"),
        "ratio": number / 3,
        "blob": Binary(b"\x00\xff" * number, 0),
        "uuid": Binary(uuid.uuid4().bytes, 4),
        "pattern": Regex("^sku-[0-9]+$", "i"),
        "ref": DBRef("other", ObjectId()),
        "code": Code("function () { return x; }", {"x": number}),
        "stamp": Timestamp(1_700_000_000, number + 1),
        "bounds": [MinKey(), MaxKey()],
        "flag": number % 3 == 0,
        "nothing": None,
        "nested": {"list": [1, "two", {"three": [3.0]}], "deep": {"er": {"est": "x"}}},
        "title": f"task {number}",
        "body": "some words",
        "attributes": {"color": "red", "size": number},
    }


async def fill_shop(engine: MongoDBEngine, slug: str = "shop") -> None:
    """Register the app and write data of every kind through its scoped database."""
    await engine.register_app({**MANIFEST, "slug": slug})
    db = engine.get_scoped_db(slug)
    await db.tasks.insert_many([every_type_document(n) for n in range(30)])
    await db.places.insert_one({"loc": {"type": "Point", "coordinates": [2.35, 48.85]}})
    await db.people.insert_many([{"surname": "Élise", "bio": "likes bread"}, {"surname": "eve"}])
    await db.log.insert_many([{"line": n} for n in range(5)])
    await db.strict.insert_one({"label": "ok"})
    await db.empty.create_index("anything")  # an empty collection with an index


@dataclass(frozen=True)
class CollectionState:
    """What the server holds for one collection."""

    documents: list[bytes]
    indexes: list[dict[str, Any]]
    options: dict[str, Any]


async def snapshot(
    client: RawClient, database: str, prefix: str = ""
) -> dict[str, CollectionState]:
    """Name (without ``prefix``) -> raw documents sorted by _id, indexes, options."""
    db = client[database]
    states: dict[str, CollectionState] = {}
    async for info in await db.list_collections(filter={"name": {"$regex": f"^{prefix}"}}):
        name = info["name"]
        if name.startswith("_mdb_engine_") and prefix == "":
            continue
        raw = db.get_collection(name, codec_options=CodecOptions(document_class=RawBSONDocument))
        documents = [doc.raw async for doc in raw.find({}).sort("_id", 1)]
        indexes = [dict(index) async for index in await db[name].list_indexes()]
        states[name[len(prefix) :]] = CollectionState(
            documents, sorted(indexes, key=lambda index: index["name"]), info.get("options", {})
        )
    return states


async def server_state(client: RawClient, database: str) -> dict[str, Any]:
    """Everything an import could change: collection names, registry and seed markers."""
    db = client[database]
    return {
        "collections": sorted(await db.list_collection_names()),
        "registry": await db[REGISTRY_COLLECTION].find({}, {"updated_at": 0}).to_list(),
        "markers": await db[SEED_MARKERS_COLLECTION].find({}, {"at": 0}).to_list(),
    }


def write_dump(
    root: Path,
    collections: dict[str, list[dict[str, Any]] | None],
    *,
    database: str = "appdb",
    metadata: dict[str, str] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """A dump directory: ``None`` documents means no .bson file for that collection."""
    directory = root / database
    directory.mkdir(parents=True)
    for name, documents in collections.items():
        if documents is not None:
            (directory / f"{name}.bson").write_bytes(b"".join(map(bson.encode, documents)))
    for name, text in (metadata or {}).items():
        (directory / f"{name}.metadata.json").write_text(text)
    if info is not None:
        (root / "mdb_engine_export.json").write_text(json.dumps(info))
    return root


@pytest.fixture
def target_database(mongodb_uri: str) -> Iterator[str]:
    """The name of a second fresh database, dropped afterwards."""
    name = f"mdbgrad_{uuid.uuid4().hex[:12]}"
    yield name
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture
def target_log() -> CommandLog:
    """Records what the target engine and client send."""
    return CommandLog()


@pytest_asyncio.fixture
async def target_client(mongodb_uri: str, target_log: CommandLog) -> AsyncIterator[RawClient]:
    """A raw client observed by ``target_log``, for the import itself."""
    client: RawClient = AsyncMongoClient(mongodb_uri, event_listeners=[target_log])
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture
async def target_engine(
    mongodb_uri: str, target_database: str, target_log: CommandLog
) -> AsyncIterator[MongoDBEngine]:
    """An engine on the second database, observed by ``target_log``."""
    engine = MongoDBEngine(mongodb_uri, target_database, event_listeners=[target_log])
    await engine.initialize()
    try:
        yield engine
    finally:
        await engine.shutdown()
