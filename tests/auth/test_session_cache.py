"""Active sessions answered from memory, corrected by a change stream; lookups without one."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect, OperationFailure

from mdb_engine import MongoDBEngine
from mdb_engine.core import change_watcher
from mdb_engine.testing import CommandLog
from tests.auth.conftest import users_manifest

LOGGER = "mdb_engine.core.change_watcher"


def session_lookups(log: CommandLog) -> int:
    return sum(
        1
        for record in log.commands
        if record.name == "find" and record.command.get("find") == "_mdb_engine_sessions"
    )


async def logged_in(engine: MongoDBEngine) -> tuple[Any, str]:
    await engine.register_app(users_manifest())
    auth = engine.get_app_auth("shop")
    assert auth is not None
    _, pair = await auth.register("ada@example.com", "correct horse")
    return auth, pair.access_token


async def test_a_session_is_looked_up_once_then_answered_from_memory(
    engine: MongoDBEngine, command_log: CommandLog
) -> None:
    auth, token = await logged_in(engine)
    command_log.clear()
    for _ in range(5):
        await auth.authenticate(token)
    assert session_lookups(command_log) == 1
    assert "aggregate" in command_log.names()  # the change stream


async def test_without_change_streams_every_check_is_a_lookup(
    engine: MongoDBEngine,
    command_log: CommandLog,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def standalone(self: AsyncCollection[Any], *args: Any, **kwargs: Any) -> Any:
        raise OperationFailure(
            "The $changeStream stage is only supported on replica sets", code=40573
        )

    monkeypatch.setattr(AsyncCollection, "watch", standalone)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    auth, token = await logged_in(engine)
    command_log.clear()
    for _ in range(3):
        await auth.authenticate(token)
    assert session_lookups(command_log) == 3
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(warnings) == 1
    assert "no change streams" in warnings[0]


async def test_a_failed_stream_falls_back_to_lookups_and_comes_back(
    engine: MongoDBEngine,
    command_log: CommandLog,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_watch = AsyncCollection.watch
    failures = [AutoReconnect("connection reset")]

    async def flaky(self: AsyncCollection[Any], *args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real_watch(self, *args, **kwargs)

    monkeypatch.setattr(AsyncCollection, "watch", flaky)
    monkeypatch.setattr(change_watcher, "RETRY_FIRST_DELAY", 0.05)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    auth, token = await logged_in(engine)
    await auth.authenticate(token)  # the stream failed: looked up
    assert any("failed" in r.getMessage() for r in caplog.records if r.name == LOGGER)

    deadline = asyncio.get_running_loop().time() + 5
    while True:
        command_log.clear()
        await auth.authenticate(token)
        await auth.authenticate(token)
        if session_lookups(command_log) <= 1:
            break  # the stream is back: the second check came from memory
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


async def test_shutdown_stops_the_watcher(mongodb_uri: str, mongodb_database: str) -> None:
    engine = MongoDBEngine(mongodb_uri, mongodb_database)
    await engine.initialize()
    _, token = await logged_in(engine)
    auth = engine.get_app_auth("shop")
    assert auth is not None
    await auth.authenticate(token)
    watchers = [t for t in asyncio.all_tasks() if t.get_name() == "mdb-engine session watcher"]
    assert len(watchers) == 1
    await engine.shutdown()
    assert watchers[0].done()
