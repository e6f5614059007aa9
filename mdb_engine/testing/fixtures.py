"""Fixtures on a real MongoDB: a session-wide server, a fresh database per test, an engine."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient, MongoClient

from mdb_engine.core import MongoDBEngine
from mdb_engine.testing.command_log import CommandLog

__all__ = [
    "ENV_TEST_URI",
    "command_log",
    "engine",
    "mongo_client",
    "mongodb_database",
    "mongodb_uri",
]

ENV_TEST_URI = "MDB_ENGINE_TEST_URI"


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """The URI of the test server: ``MDB_ENGINE_TEST_URI``, or a local mongod started once."""
    existing = os.environ.get(ENV_TEST_URI)
    if existing:
        yield existing
        return
    from mdb_engine.embedded import LocalMongod

    with LocalMongod() as mongod:
        yield mongod.uri


@pytest.fixture
def mongodb_database(mongodb_uri: str) -> Iterator[str]:
    """The name of a fresh database for this test, dropped afterwards."""
    name = f"mdbtest_{uuid.uuid4().hex[:12]}"
    yield name
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture
def command_log() -> CommandLog:
    """Records every command the ``engine`` fixture sends to the server."""
    return CommandLog()


@pytest_asyncio.fixture
async def engine(
    mongodb_uri: str, mongodb_database: str, command_log: CommandLog
) -> AsyncIterator[MongoDBEngine]:
    """An initialized engine on this test's fresh database, observed by ``command_log``."""
    test_engine = MongoDBEngine(mongodb_uri, mongodb_database, event_listeners=[command_log])
    await test_engine.initialize()
    try:
        yield test_engine
    finally:
        await test_engine.shutdown()


@pytest_asyncio.fixture
async def mongo_client(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """A raw (unscoped, unobserved) client, for checking what really is in the database."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        yield client
    finally:
        await client.close()
