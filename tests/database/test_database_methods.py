"""ScopedDatabase: collection listing, creation with the manifest's settings, and dropping."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import CollectionInvalid, WriteError

from mdb_engine import MongoDBEngine, ScopeViolation
from mdb_engine.testing import CommandLog

Raw = Any

SETTINGS_MANIFEST: dict[str, Any] = {
    "schema_version": "2.0",
    "slug": "shop",
    "name": "Shop",
    "collection_settings": {
        "orders": {
            "validator": {
                "$jsonSchema": {
                    "bsonType": "object",
                    "required": ["total"],
                    "properties": {"_id": {}, "total": {"bsonType": "number"}},
                    "additionalProperties": False,
                }
            },
            "validation_action": "error",
        },
        "log": {"capped": True, "size": 65536, "max": 3},
        "metrics": {"timeseries": {"timeField": "ts", "metaField": "meta"}},
        "people": {"collation": {"locale": "en", "strength": 2}},
    },
    "managed_indexes": {"orders": [{"type": "regular", "keys": {"total": 1}, "name": "t"}]},
}


async def collection_info(mongo_client: Raw, database: str) -> dict[str, dict[str, Any]]:
    infos = await (await mongo_client[database].list_collections()).to_list()
    return {info["name"]: info for info in infos}


async def test_registration_creates_declared_collections_with_settings(
    engine: MongoDBEngine, mongo_client: Raw, mongodb_database: str
) -> None:
    await engine.register_app(SETTINGS_MANIFEST)
    infos = await collection_info(mongo_client, mongodb_database)
    assert infos["shop_log"]["options"]["capped"] is True
    assert infos["shop_log"]["options"]["max"] == 3
    assert infos["shop_metrics"]["type"] == "timeseries"
    assert infos["shop_people"]["options"]["collation"]["strength"] == 2
    schema = infos["shop_orders"]["options"]["validator"]["$jsonSchema"]
    assert schema["properties"]["app_id"] == {"bsonType": "string"}
    db = engine.get_scoped_db("shop")
    await db.orders.insert_one({"total": 5})
    with pytest.raises(WriteError):
        await db.orders.insert_one({"total": "five"})
    with pytest.raises(WriteError):
        await db.orders.insert_one({"total": 1, "extra": True})
    assert await db.people.count_documents({"name": "ANN"}) == 0
    await db.people.insert_one({"name": "ann"})
    assert await db.people.count_documents({"name": "ANN"}) == 1


async def test_restart_leaves_existing_collections_alone(
    engine: MongoDBEngine, command_log: CommandLog
) -> None:
    await engine.register_app(SETTINGS_MANIFEST)
    await engine.shutdown()
    await engine.initialize()
    command_log.clear()
    await engine.reload_apps()
    assert command_log.named("create") == []
    assert command_log.names().count("listCollections") == 1


async def test_create_collection_applies_settings_and_overrides(
    engine: MongoDBEngine, mongo_client: Raw, mongodb_database: str
) -> None:
    await engine.register_app(SETTINGS_MANIFEST)
    db = engine.get_scoped_db("shop")
    await db.drop_collection("log")
    await db.drop_collection("people")
    await db.create_collection("log", max=5)
    await db.create_collection("people")
    created = await db.create_collection("events", capped=True, size=4096)
    assert created.name == "events"
    infos = await collection_info(mongo_client, mongodb_database)
    assert infos["shop_log"]["options"]["capped"] is True
    assert infos["shop_log"]["options"]["max"] == 5
    assert infos["shop_people"]["options"]["collation"]["strength"] == 2
    assert infos["shop_events"]["options"]["size"] == 4096
    with pytest.raises(CollectionInvalid):
        await db.create_collection("events")
    with pytest.raises(ScopeViolation):
        await db.create_collection("_mdb_engine_apps")
    assert "_mdb_engine_apps" in infos  # the engine's own collection is still there


async def test_list_collection_names_filters_in_logical_names(
    engine: MongoDBEngine, mongo_client: Raw, mongodb_database: str
) -> None:
    for slug in ("app_a", "app_b"):
        await engine.register_app({"schema_version": "2.0", "slug": slug, "name": slug})
    a, b = engine.get_scoped_db("app_a"), engine.get_scoped_db("app_b")
    for name in ("tasks", "notes", "people"):
        await a[name].insert_one({})
    await b.secrets.insert_one({})
    await mongo_client[mongodb_database]["app_ax"].insert_one({})
    assert sorted(await a.list_collection_names()) == ["notes", "people", "tasks"]
    assert await a.list_collection_names(filter={"name": "tasks"}) == ["tasks"]
    assert await a.list_collection_names(filter={"name": "secrets"}) == []
    found = await a.list_collection_names(filter={"name": {"$in": ["notes", "people"]}})
    assert sorted(found) == ["notes", "people"]
    assert "tasks" in await a.list_collection_names(filter={"name": {"$nin": ["notes"]}})
    assert sorted(await a.list_collection_names(filter={"type": "collection"})) == [
        "notes",
        "people",
        "tasks",
    ]
    for bad in ({"$or": [{"name": "x"}]}, {"name": {"$regex": "."}}, {"name": "_mdb_engine_apps"}):
        with pytest.raises(ScopeViolation):
            await a.list_collection_names(filter=bad)


async def test_drop_collection(engine: MongoDBEngine) -> None:
    for slug in ("app_a", "app_b"):
        await engine.register_app({"schema_version": "2.0", "slug": slug, "name": slug})
    a, b = engine.get_scoped_db("app_a"), engine.get_scoped_db("app_b")
    await a.tasks.insert_one({})
    await a.notes.insert_one({})
    await b.tasks.insert_one({})
    result = await a.drop_collection("tasks")
    assert result["ok"] == 1
    await a.drop_collection(a.notes)
    assert await a.list_collection_names() == []
    assert await b.list_collection_names() == ["tasks"]
    with pytest.raises(ScopeViolation):
        await a.drop_collection("system.views")
