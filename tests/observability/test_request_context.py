"""Requests of two apps served concurrently: each log record names its own app and request."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from mdb_engine.observability.context import APP_ID, REQUEST_ID
from mdb_engine.observability.logging import (
    AppLogSettings,
    install_log_handler,
    remove_log_handler,
)
from mdb_engine.observability.middleware import RequestContextMiddleware
from tests.observability.conftest import CollectingHandler

REQUESTS_PER_APP = 50


@pytest.fixture
def collected(settings: AppLogSettings) -> Iterator[CollectingHandler]:
    """Records of the ``some`` loggers, through the engine's handler."""
    parent = logging.getLogger("some")
    level = parent.level
    parent.setLevel(logging.DEBUG)
    handler = install_log_handler(settings, CollectingHandler(), parent)
    assert isinstance(handler, CollectingHandler)
    yield handler
    remove_log_handler(handler, parent)
    parent.setLevel(level)


def make_app(app_id: str) -> FastAPI:
    app = FastAPI()
    log = logging.getLogger("some.module")

    @app.get("/items/{number}")
    async def item(number: int) -> dict[str, str | int | None]:
        log.info("start %s", number)
        await asyncio.sleep(random.uniform(0, 0.005))
        log.warning("done %s", number)
        return {"number": number, "request_id": REQUEST_ID.get()}

    @app.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"app_id": APP_ID.get(), "request_id": REQUEST_ID.get()})
        await websocket.close()

    app.add_middleware(RequestContextMiddleware, app_id=app_id)
    return app


async def serve_concurrently(
    apps: dict[str, FastAPI],
) -> dict[str, tuple[str, int]]:
    """Send every app its requests at once; map each response's request id to (app, number)."""

    async def call(client: httpx.AsyncClient, number: int) -> httpx.Response:
        return await client.get(f"/items/{number}")

    clients = {
        app_id: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        for app_id, app in apps.items()
    }
    try:
        calls = [
            (app_id, number, call(client, number))
            for app_id, client in clients.items()
            for number in range(REQUESTS_PER_APP)
        ]
        random.shuffle(calls)
        responses = await asyncio.gather(*(coroutine for _, _, coroutine in calls))
    finally:
        for client in clients.values():
            await client.aclose()
    served: dict[str, tuple[str, int]] = {}
    for (app_id, number, _), response in zip(calls, responses, strict=True):
        assert response.status_code == 200
        request_id = response.headers["X-Request-ID"]
        assert response.json() == {"number": number, "request_id": request_id}
        served[request_id] = (app_id, number)
    return served


async def test_records_of_concurrent_requests_carry_their_app_and_request(
    collected: CollectingHandler,
) -> None:
    served = await serve_concurrently({"alpha": make_app("alpha"), "beta": make_app("beta")})
    assert len(served) == 2 * REQUESTS_PER_APP
    assert len(collected.records) == 2 * 2 * REQUESTS_PER_APP
    for record in collected.records:
        app_id, number = served[record.request_id]
        assert record.app_id == app_id
        assert record.args == (number,)
    assert {record.request_id for record in collected.records} == set(served)


async def test_json_lines_and_per_app_levels_under_concurrency(
    settings: AppLogSettings, collected: CollectingHandler
) -> None:
    settings.set("alpha", "WARNING", "text")
    settings.set("beta", "INFO", "json")
    served = await serve_concurrently({"alpha": make_app("alpha"), "beta": make_app("beta")})
    alpha = [
        line
        for record, line in zip(collected.records, collected.lines, strict=True)
        if record.app_id == "alpha"
    ]
    beta = [
        json.loads(line)
        for record, line in zip(collected.records, collected.lines, strict=True)
        if record.app_id == "beta"
    ]
    assert len(alpha) == REQUESTS_PER_APP  # INFO dropped, WARNING kept
    assert all(" WARNING [alpha " in line for line in alpha)
    assert len(beta) == 2 * REQUESTS_PER_APP
    assert {entry["level"] for entry in beta} == {"INFO", "WARNING"}
    for entry in beta:
        assert served[entry["request_id"]] == ("beta", int(entry["message"].split()[1]))
        assert entry["app_id"] == "beta"


async def test_a_sane_incoming_request_id_is_kept_and_echoed(
    collected: CollectingHandler,
) -> None:
    transport = httpx.ASGITransport(app=make_app("alpha"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        kept = await client.get("/items/1", headers={"X-Request-ID": "trace-1.A_b"})
        replaced = await client.get("/items/2", headers={"X-Request-ID": "bad id\r\nx"})
        too_long = await client.get("/items/3", headers={"X-Request-ID": "a" * 129})
    assert kept.headers["X-Request-ID"] == "trace-1.A_b"
    for response in (replaced, too_long):
        generated = response.headers["X-Request-ID"]
        assert len(generated) == 32
        assert int(generated, 16) >= 0
    ids = [record.request_id for record in collected.records]
    assert ids[:2] == ["trace-1.A_b", "trace-1.A_b"]
    assert (
        ids[2:] == [replaced.headers["X-Request-ID"]] * 2 + [too_long.headers["X-Request-ID"]] * 2
    )


async def test_context_is_reset_after_the_request() -> None:
    transport = httpx.ASGITransport(app=make_app("alpha"))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/items/1")
    assert response.status_code == 200
    assert (APP_ID.get(), REQUEST_ID.get()) == (None, None)


async def test_a_header_the_app_set_itself_is_not_duplicated() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 204, "headers": [(b"x-request-id", b"own")]}
        )
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=RequestContextMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/")
    assert response.headers.get_list("X-Request-ID") == ["own"]


async def test_lifespan_passes_through_without_context() -> None:
    seen: list[tuple[str, str | None, str | None]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["type"], APP_ID.get(), REQUEST_ID.get()))

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    await RequestContextMiddleware(app, app_id="alpha")({"type": "lifespan"}, receive, send)
    assert seen == [("lifespan", None, None)]


def test_websocket_runs_inside_the_app_and_request_context() -> None:
    with (
        TestClient(make_app("beta")) as client,
        client.websocket_connect("/ws", headers={"X-Request-ID": "ws-1"}) as websocket,
    ):
        assert websocket.receive_json() == {"app_id": "beta", "request_id": "ws-1"}
