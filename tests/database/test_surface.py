"""The scoped objects mirror PyMongo's async API and hand out no driver object."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase

from mdb_engine import MongoDBEngine
from mdb_engine.database import (
    ScopedChangeStream,
    ScopedCollection,
    ScopedCommandCursor,
    ScopedCursor,
    ScopedDatabase,
)

COLLECTION_METHODS = [
    "insert_one",
    "insert_many",
    "find",
    "find_one",
    "find_one_and_update",
    "find_one_and_replace",
    "find_one_and_delete",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "count_documents",
    "estimated_document_count",
    "distinct",
    "aggregate",
    "bulk_write",
    "watch",
    "create_index",
    "create_indexes",
    "list_indexes",
    "index_information",
    "drop_index",
    "drop_indexes",
    "drop",
    "rename",
    "with_options",
]
DATABASE_METHODS = [
    "list_collection_names",
    "list_collections",
    "command",
    "create_collection",
    "drop_collection",
    "get_collection",
    "watch",
]
CURSOR_METHODS = [
    "sort",
    "skip",
    "limit",
    "batch_size",
    "hint",
    "collation",
    "max_time_ms",
    "max_await_time_ms",
    "comment",
    "allow_disk_use",
    "max",
    "min",
    "clone",
    "rewind",
    "explain",
    "distinct",
    "to_list",
    "next",
    "close",
]


def _parameters(function: Any) -> list[tuple[str, Any, Any]]:
    """Name, kind and default of each parameter: what a caller can rely on."""
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize("name", COLLECTION_METHODS)
def test_collection_method_has_pymongo_signature(name: str) -> None:
    ours, theirs = getattr(ScopedCollection, name), getattr(AsyncCollection, name)
    assert _parameters(ours) == _parameters(theirs)
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs)


@pytest.mark.parametrize("name", DATABASE_METHODS)
def test_database_method_has_pymongo_signature(name: str) -> None:
    ours, theirs = getattr(ScopedDatabase, name), getattr(AsyncDatabase, name)
    assert _parameters(ours) == _parameters(theirs)
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs)


@pytest.mark.parametrize("name", CURSOR_METHODS)
def test_cursor_method_has_pymongo_signature(name: str) -> None:
    ours, theirs = getattr(ScopedCursor, name), getattr(AsyncCursor, name)
    assert _parameters(ours) == _parameters(theirs)
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs)


@pytest.fixture
async def app_db(engine: MongoDBEngine) -> ScopedDatabase:
    await engine.register_app({"schema_version": "2.0", "slug": "surface", "name": "S"})
    return engine.get_scoped_db("surface")


DRIVER_TYPES = (AsyncCollection, AsyncDatabase, AsyncCursor)


def _assert_no_driver_object(scoped: object) -> None:
    """Nothing reachable through public or dir()-listed attributes is a driver object."""
    names = dir(scoped)
    assert all(not name.startswith("_") for name in names), names
    for name in names:
        value = getattr(scoped, name)
        assert not isinstance(value, DRIVER_TYPES), name
    for private in ("_db", "_collection", "_database", "_client", "_cursor", "__collection"):
        with pytest.raises(AttributeError):
            getattr(scoped, private)


async def test_scoped_objects_hand_out_no_driver_object(app_db: ScopedDatabase) -> None:
    collection = app_db.tasks
    await collection.insert_one({"x": 1})
    cursor = collection.find()
    command_cursor = await collection.aggregate([])
    stream = await collection.watch()
    try:
        for scoped in (app_db, collection, cursor, command_cursor, stream):
            _assert_no_driver_object(scoped)
        assert isinstance(cursor, ScopedCursor)
        assert isinstance(command_cursor, ScopedCommandCursor)
        assert isinstance(stream, ScopedChangeStream)
        assert cursor.collection is collection
    finally:
        await cursor.close()
        await command_cursor.close()
        await stream.close()


async def test_private_attributes_are_not_collections(app_db: ScopedDatabase) -> None:
    for name in ("_mdb_engine_apps", "_secret", "__class_getitem__x"):
        with pytest.raises(AttributeError):
            getattr(app_db, name)
    assert set(dir(app_db)) >= {"get_collection", "list_collection_names", "watch", "read_scope"}
    assert "tasks" not in dir(app_db)
