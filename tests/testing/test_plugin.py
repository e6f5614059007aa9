"""The pytest plugin's fixtures: a real server, a fresh database per test, the command log."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine
from mdb_engine.testing import CommandLog

RawClient = AsyncMongoClient[dict[str, Any]]
_seen_databases: list[str] = []


async def test_server_is_a_replica_set(mongo_client: RawClient) -> None:
    hello = await mongo_client.admin.command("hello")
    assert hello["isWritablePrimary"] is True
    assert hello.get("setName")  # transactions and change streams need a replica set


async def test_fresh_database_per_test_first(engine: MongoDBEngine, mongodb_database: str) -> None:
    _seen_databases.append(mongodb_database)
    assert engine.db_name == mongodb_database


async def test_fresh_database_per_test_second(
    engine: MongoDBEngine, mongodb_database: str, mongo_client: RawClient
) -> None:
    assert _seen_databases
    assert mongodb_database not in _seen_databases
    # The previous test's database was dropped when it ended.
    assert _seen_databases[0] not in await mongo_client.list_database_names()


async def test_command_log_records_what_went_over_the_wire(
    engine: MongoDBEngine, command_log: CommandLog
) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "logged", "name": "Logged"})
    command_log.clear()
    await engine.get_scoped_db("logged").items.insert_one({"x": 1})
    [record] = command_log.commands
    assert record.name == "insert"
    assert record.database == engine.db_name
    assert record.collection == "logged_items"
    assert record.command["documents"][0]["app_id"] == "logged"
    assert command_log.names() == ["insert"]
    command_log.clear()
    assert command_log.commands == []
