"""Slow and dead clients, leaks, the standalone fallback, shutdown and what is logged."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import os
import time
from typing import Any

import pytest
from fastapi import FastAPI
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect, OperationFailure
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mdb_engine import MongoDBEngine
from tests.routing.conftest import Serve
from tests.routing.test_websockets import closed_with, login, receive, ws_manifest


async def open_app(engine: MongoDBEngine, serve: Serve, **endpoint: Any) -> str:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha", **{"auth": {"required": False}, **endpoint}))
    return await serve(app)


async def drain(client: Any) -> int | None:
    try:
        while True:
            await asyncio.wait_for(client.recv(), 5)
    except ConnectionClosed:
        return client.close_code  # type: ignore[no-any-return]


async def settle(engine: MongoDBEngine, count: int) -> None:
    deadline = time.monotonic() + 5
    while engine.realtime.manager.count("alpha") != count:
        assert time.monotonic() < deadline, engine.realtime.manager.count("alpha")
        await asyncio.sleep(0.01)


async def test_a_stalled_client_is_closed_1013_and_never_delays_the_others(
    engine: MongoDBEngine, serve: Serve
) -> None:
    engine.realtime.queue_size = 4
    base = await open_app(engine, serve)
    # The stalled client stops reading after 1 buffered message: the server's writes to it
    # then block once the socket buffers are full, and its queue overflows.
    # (Without compression: repeated padding would shrink to nothing on the wire.)
    stalled = await connect(f"{base}/ws", max_queue=1, max_size=None, compression=None)
    async with connect(f"{base}/ws", max_size=None) as healthy:
        await settle(engine, 2)
        payload = base64.b64encode(os.urandom(750_000)).decode()  # 1 MB that does not compress
        slowest = 0.0
        for n in range(200):
            started = time.monotonic()
            await engine.broadcast_to_app("alpha", {"n": n, "pad": payload})
            slowest = max(slowest, time.monotonic() - started)
            assert (await receive(healthy))["n"] == n  # the healthy client keeps up
            if engine.realtime.manager.count("alpha") == 1:
                break  # the stalled one was closed
        assert engine.realtime.manager.count("alpha") == 1, "the stalled client was never closed"
        assert slowest < 0.5  # a broadcast only queues; it never waits for a client
    # Once it reads again, the stalled client finds the close frame behind what it missed.
    assert await drain(stalled) == 1013
    await stalled.close()


async def test_a_thousand_connects_and_disconnects_leak_no_task(
    engine: MongoDBEngine, serve: Serve
) -> None:
    base = await open_app(engine, serve)
    async with connect(f"{base}/ws"):  # warm: the bus and server tasks exist
        await settle(engine, 1)
    await settle(engine, 0)
    await asyncio.sleep(0.1)
    before = len(asyncio.all_tasks())
    for _ in range(20):
        clients = await asyncio.gather(*(connect(f"{base}/ws") for _ in range(50)))
        await settle(engine, 50)
        await asyncio.gather(*(client.close() for client in clients))
        await settle(engine, 0)
    deadline = time.monotonic() + 5
    while len(asyncio.all_tasks()) > before:
        assert time.monotonic() < deadline, [t.get_name() for t in asyncio.all_tasks()]
        await asyncio.sleep(0.05)
    gc.collect()
    assert engine.realtime.manager.count() == 0


async def test_without_change_streams_broadcasts_stay_in_this_process(
    engine: MongoDBEngine,
    serve: Serve,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def standalone(self: AsyncCollection[Any], *args: Any, **kwargs: Any) -> Any:
        raise OperationFailure("The $changeStream stage is only supported on replica sets", 40573)

    monkeypatch.setattr(AsyncCollection, "watch", standalone)
    caplog.set_level(logging.WARNING, logger="mdb_engine")
    base = await open_app(engine, serve)
    async with connect(f"{base}/ws") as client:
        await settle(engine, 1)
        assert await engine.broadcast_to_app("alpha", {"local": True}) == 1
        assert await receive(client) == {"local": True}
    warnings = [r.getMessage() for r in caplog.records if "no change streams" in r.getMessage()]
    assert len(warnings) == 1
    assert "reach only the clients of the process" in warnings[0]
    assert not engine.realtime.bus.is_shared


async def test_shutdown_closes_connections_going_away(
    mongodb_uri: str, mongodb_database: str, serve: Serve
) -> None:
    engine = MongoDBEngine(mongodb_uri, mongodb_database)
    await engine.initialize()
    base = await open_app(engine, serve)
    async with connect(f"{base}/ws") as client:
        await settle(engine, 1)
        await engine.shutdown()
        assert await closed_with(client) == 1001


async def test_the_query_token_is_not_logged(
    engine: MongoDBEngine, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha"))
    token = await login(engine, "alpha")
    base = await serve(app)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(handler)
    previous = uvicorn_log.level
    uvicorn_log.setLevel(logging.INFO)
    try:
        async with connect(f"{base}/ws?token={token}") as client:
            await settle(engine, 1)
            await client.send(json.dumps({"type": "ping"}))
            assert await receive(client) == {"type": "pong"}
    finally:
        uvicorn_log.removeHandler(handler)
        uvicorn_log.setLevel(previous)
    accepted = [r.getMessage() for r in records if "[accepted]" in r.getMessage()]
    assert accepted, "uvicorn logged no WebSocket line to check"
    assert "token=[REDACTED]" in accepted[0]
    assert all(token not in r.getMessage() for r in records)


async def test_broadcasts_are_pruned_by_ttl(
    engine: MongoDBEngine, serve: Serve, mongo_client: Any, mongodb_database: str
) -> None:
    await open_app(engine, serve)
    await engine.broadcast_to_app("alpha", {"n": 1})
    await engine.realtime.bus.flush()
    raw = mongo_client[mongodb_database]["_mdb_engine_broadcasts"]
    stored = await raw.find_one({})
    assert stored["app"] == "alpha"
    assert json.loads(stored["text"]) == {"n": 1}
    assert (stored["expires_at"] - stored["created_at"]).total_seconds() == 60
    indexes = await raw.index_information()
    assert indexes["expires_at_ttl"]["expireAfterSeconds"] == 0


async def test_a_burst_of_broadcasts_closes_no_healthy_client(
    engine: MongoDBEngine, serve: Serve
) -> None:
    engine.realtime.queue_size = 16
    base = await open_app(engine, serve)
    async with connect(f"{base}/ws") as first, connect(f"{base}/ws") as second:
        await settle(engine, 2)
        # 40 at once: more than the queue holds before the sender tasks run at all.
        await asyncio.gather(*(engine.broadcast_to_app("alpha", {"n": n}) for n in range(40)))
        for client in (first, second):
            received = {(await receive(client))["n"] for _ in range(40)}
            assert received == set(range(40))
        assert engine.realtime.manager.count("alpha") == 2


async def test_a_failed_bus_write_is_logged_and_local_clients_still_get_it(
    engine: MongoDBEngine,
    serve: Serve,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = await open_app(engine, serve)
    async with connect(f"{base}/ws") as client:
        await settle(engine, 1)

        async def unreachable(self: AsyncCollection[Any], *args: Any, **kwargs: Any) -> Any:
            raise AutoReconnect("connection reset")

        monkeypatch.setattr(AsyncCollection, "insert_many", unreachable)
        caplog.set_level(logging.WARNING, logger="mdb_engine.routing.bus")
        assert await engine.broadcast_to_app("alpha", {"n": 1}) == 1
        await engine.realtime.bus.flush()
        assert await receive(client) == {"n": 1}
    assert any(
        "1 broadcast(s) did not reach the other processes" in r.getMessage() for r in caplog.records
    )
