"""The scoped database's first operations, proven on the wire with command_log."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient, WriteConcern

from mdb_engine import MongoDBEngine, ScopeViolation
from mdb_engine.database.scope import scope_filter, tag_document
from mdb_engine.testing import CommandLog

RawClient = AsyncMongoClient[dict[str, Any]]


def test_scope_filter_wraps_without_merging() -> None:
    user_filter = {"app_id": "other", "x": 1}
    assert scope_filter(user_filter, "a1") == {"$and": [user_filter, {"app_id": "a1"}]}
    assert scope_filter({}, "a1") == {"app_id": "a1"}
    assert scope_filter(None, "a1") == {"app_id": "a1"}
    assert user_filter == {"app_id": "other", "x": 1}


@pytest.mark.parametrize(
    "bad",
    [
        {"$where": "true"},
        {"$or": [{"$where": "true"}]},
        {"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}},
    ],
)
def test_server_javascript_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ScopeViolation):
        scope_filter(bad, "a1")


def test_tag_document() -> None:
    document = {"x": 1}
    assert tag_document(document, "a1") == {"x": 1, "app_id": "a1"}
    assert document == {"x": 1}
    assert tag_document({"app_id": "a1"}, "a1") == {"app_id": "a1"}
    with pytest.raises(ScopeViolation, match="app_id='a2'"):
        tag_document({"app_id": "a2"}, "a1")


@pytest.fixture
async def two_apps(engine: MongoDBEngine) -> MongoDBEngine:
    for slug in ("app_a", "app_b"):
        await engine.register_app({"schema_version": "2.0", "slug": slug, "name": slug})
    return engine


async def test_writes_are_physical_and_tagged(
    two_apps: MongoDBEngine, command_log: CommandLog, mongo_client: RawClient, mongodb_database: str
) -> None:
    db = two_apps.get_scoped_db("app_a")
    document: dict[str, Any] = {"title": "t"}
    command_log.clear()
    result = await db.tasks.insert_one(document)
    assert document["_id"] == result.inserted_id  # as PyMongo does
    assert "app_id" not in document
    [insert] = command_log.named("insert")
    assert insert.collection == "app_a_tasks"
    assert [d["app_id"] for d in insert.command["documents"]] == ["app_a"]
    raw = await mongo_client[mongodb_database]["app_a_tasks"].find_one({"_id": result.inserted_id})
    assert raw == {"_id": result.inserted_id, "title": "t", "app_id": "app_a"}


async def test_reads_only_see_own_app(two_apps: MongoDBEngine, command_log: CommandLog) -> None:
    a = two_apps.get_scoped_db("app_a")
    b = two_apps.get_scoped_db("app_b")
    await a.tasks.insert_many([{"n": 1}, {"n": 2}])
    await b.tasks.insert_one({"n": 3})
    command_log.clear()
    assert await a.tasks.count_documents({}) == 2
    assert await a.tasks.find_one({"n": 3}) is None
    assert await a.tasks.find_one({"app_id": "app_b"}) is None
    found = await a.tasks.find({"n": {"$gte": 1}}).sort("n", -1).limit(5).to_list()
    assert [d["n"] for d in found] == [2, 1]
    assert [d["n"] async for d in b.tasks.find()] == [3]
    for record in command_log.commands:
        assert record.collection in {"app_a_tasks", "app_b_tasks"}
        sent = record.command.get("filter", record.command.get("pipeline"))
        assert "app_a" in repr(sent) or "app_b" in repr(sent)


async def test_foreign_app_id_on_insert_sends_nothing(
    two_apps: MongoDBEngine, command_log: CommandLog
) -> None:
    db = two_apps.get_scoped_db("app_a")
    command_log.clear()
    with pytest.raises(ScopeViolation):
        await db.tasks.insert_one({"app_id": "app_b"})
    with pytest.raises(ScopeViolation):
        await db.tasks.insert_many([{"ok": 1}, {"app_id": "app_b"}])
    assert command_log.commands == []


async def test_no_escape_hatch_through_attributes(two_apps: MongoDBEngine) -> None:
    db = two_apps.get_scoped_db("app_a")
    for name in ("_db", "_collection", "__database", "_mdb_engine_apps"):
        with pytest.raises(AttributeError):
            getattr(db, name)
    with pytest.raises(ScopeViolation):
        db["_mdb_engine_apps"]
    with pytest.raises(ScopeViolation):
        db.get_collection("system.users")
    assert db.tasks.name == "tasks"


async def test_cursor_chaining_matches_pymongo(
    two_apps: MongoDBEngine, mongo_client: RawClient, mongodb_database: str
) -> None:
    db = two_apps.get_scoped_db("app_a")
    await db.items.insert_many([{"n": n} for n in range(10)])
    raw = mongo_client[mongodb_database]["app_a_items"]
    scoped_cursor = db.items.find({}, {"_id": 0, "n": 1})
    raw_cursor = raw.find({}, {"_id": 0, "n": 1})
    for cursor in (scoped_cursor, raw_cursor):
        cursor.sort("n", 1).skip(2).limit(3).batch_size(2)
    assert (
        await scoped_cursor.to_list() == await raw_cursor.to_list() == [{"n": n} for n in (2, 3, 4)]
    )

    # Closing mid-way behaves as PyMongo's cursor: what was already fetched stays readable.
    scoped_cursor = db.items.find({}, {"_id": 0}).sort("n", 1).batch_size(3)
    raw_cursor = raw.find({}, {"_id": 0, "app_id": 0}).sort("n", 1).batch_size(3)
    assert await anext(scoped_cursor) == {"n": 0, "app_id": "app_a"}
    assert await anext(raw_cursor) == {"n": 0}
    await scoped_cursor.close()
    await raw_cursor.close()
    assert len(await scoped_cursor.to_list()) == len(await raw_cursor.to_list())


async def test_a_collection_object_is_built_once_per_name(engine: MongoDBEngine) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "shop", "name": "Shop"})
    db = engine.get_scoped_db("shop")
    assert db.tasks is db["tasks"] is db.get_collection("tasks")
    unacknowledged = db.get_collection("tasks", write_concern=WriteConcern(w=0))
    assert unacknowledged is not db.tasks
    assert unacknowledged.write_concern.acknowledged is False
    assert db.tasks.write_concern.acknowledged is True
