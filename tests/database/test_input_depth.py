"""Input nested deeper than MongoDB accepts is refused with InputTooDeep before anything is
sent, through every scoped method; what MongoDB accepts passes, and what only the server
refuses comes back as the server's own error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bson.errors import InvalidDocument
from pymongo import InsertOne, UpdateOne
from pymongo.errors import OperationFailure, WriteError

from mdb_engine import InputTooDeep, MDBEngineError, MongoDBEngine, ScopedDatabase
from mdb_engine.database.scope import MAX_NESTING_DEPTH, check_nesting_depth, scope_filter
from mdb_engine.testing import CommandLog


def nested(levels: int, leaf: Any = 1) -> Any:
    """A value with ``levels`` nested documents (or, alternately, arrays)."""
    value = leaf
    for level in range(levels):
        value = {"a": value} if level % 2 == 0 else [value]
    return value


def filter_of(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"x": 1}
    for _ in range(levels // 2):
        value = {"$and": [value]}
    return value


def test_the_limit_is_mongodbs_command_depth() -> None:
    check_nesting_depth(nested(MAX_NESTING_DEPTH))
    with pytest.raises(InputTooDeep) as raised:
        check_nesting_depth(nested(MAX_NESTING_DEPTH + 1))
    assert "nested more than 200 levels" in str(raised.value)
    assert isinstance(raised.value, MDBEngineError)
    assert isinstance(raised.value, InvalidDocument)  # as PyMongo raises for what it cannot encode


def test_far_deeper_input_is_refused_without_recursing_into_it() -> None:
    deep = filter_of(200_000)  # far past Python's recursion limit
    with pytest.raises(InputTooDeep):
        scope_filter(deep, "shop")


Call = Callable[[ScopedDatabase, Any], Awaitable[Any]]


async def _watch(db: ScopedDatabase, deep: Any) -> Any:
    stream = await db.tasks.watch([{"$match": {"x": deep}}])
    await stream.close()


CALLS: dict[str, Call] = {
    "insert_one": lambda db, deep: db.tasks.insert_one({"x": deep}),
    "insert_many": lambda db, deep: db.tasks.insert_many([{"ok": 1}, {"x": deep}]),
    "find": lambda db, deep: db.tasks.find({"x": deep}).to_list(),
    "find_one": lambda db, deep: db.tasks.find_one({"x": deep}),
    "find_projection": lambda db, deep: db.tasks.find({}, {"x": deep}).to_list(),
    "count_documents": lambda db, deep: db.tasks.count_documents({"x": deep}),
    "distinct": lambda db, deep: db.tasks.distinct("x", {"x": deep}),
    "update_one": lambda db, deep: db.tasks.update_one({}, {"$set": {"x": deep}}),
    "update_filter": lambda db, deep: db.tasks.update_many({"x": deep}, {"$set": {"y": 1}}),
    "replace_one": lambda db, deep: db.tasks.replace_one({}, {"x": deep}),
    "delete_many": lambda db, deep: db.tasks.delete_many({"x": deep}),
    "find_one_and_update": lambda db, deep: db.tasks.find_one_and_update({}, {"$set": {"x": deep}}),
    "aggregate": lambda db, deep: db.tasks.aggregate([{"$match": {"x": deep}}]),
    "lookup": lambda db, deep: db.tasks.aggregate(
        [{"$lookup": {"from": "notes", "pipeline": [{"$match": {"x": deep}}], "as": "n"}}]
    ),
    "bulk_write": lambda db, deep: db.tasks.bulk_write(
        [InsertOne({"ok": 1}), UpdateOne({}, {"$set": {"x": deep}})]
    ),
    "watch": _watch,
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_every_method_refuses_too_deep_input_before_sending(
    engine: MongoDBEngine, command_log: CommandLog, call: Call
) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "shop", "name": "Shop"})
    db = engine.get_scoped_db("shop")
    await db.tasks.insert_one({"seed": True})
    command_log.clear()
    with pytest.raises(InputTooDeep):
        await call(db, nested(5_000))
    assert command_log.commands == []
    assert await db.tasks.count_documents({}) == 1


async def test_what_the_server_refuses_is_the_servers_error(engine: MongoDBEngine) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "shop", "name": "Shop"})
    db = engine.get_scoped_db("shop")
    await db.tasks.insert_one({"x": nested(150)})  # MongoDB stores up to 180 levels
    with pytest.raises(WriteError) as stored:
        await db.tasks.insert_one({"x": nested(190)})
    assert "levels of nesting" in str(stored.value)
    # 199 levels pass the engine's check; with the scope and the command around them, the
    # server's own limit refuses them.
    with pytest.raises(OperationFailure) as queried:
        await db.tasks.find_one(filter_of(198))
    assert "nested object depth" in str(queried.value)
    assert await db.tasks.count_documents({}) == 1
