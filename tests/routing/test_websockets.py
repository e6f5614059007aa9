"""Manifest WebSocket endpoints on a real uvicorn server: routes, auth, broadcasts, handlers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mdb_engine import MongoDBEngine
from mdb_engine.errors import ManifestError
from mdb_engine.routing import broadcast_to_app, register_message_handler
from tests.routing.conftest import Serve


def ws_manifest(slug: str, path: str = "/ws", **endpoint: Any) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": slug,
        "name": slug.title(),
        "auth": {"users": {"enabled": True, "strategy": "app_users"}},
        "websockets": {"realtime": {"path": path, "auth": {"required": True}, **endpoint}},
    }


async def login(engine: MongoDBEngine, slug: str, email: str = "ada@example.com") -> str:
    auth = engine.get_app_auth(slug)
    assert auth is not None
    _, pair = await auth.register(email, "correct horse")
    return pair.access_token


async def receive(client: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(client.recv(), timeout))
        if message.get("type") != "ping":
            return message  # type: ignore[no-any-return]


async def closed_with(client: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(client.recv(), 5)
    return client.close_code


async def test_routes_follow_registration_and_broadcasts_reach_the_apps_clients(
    engine: MongoDBEngine, serve: Serve
) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha", "/alpha/ws", auth={"required": False}))
    await engine.register_app(ws_manifest("beta", "/beta/ws", auth={"required": False}))
    base = await serve(app)
    async with (
        connect(f"{base}/alpha/ws") as first,
        connect(f"{base}/alpha/ws") as second,
        connect(f"{base}/beta/ws") as other,
    ):
        await asyncio.sleep(0.05)  # the server side has registered the connections
        sent = await broadcast_to_app("alpha", {"type": "update", "data": {"n": 1}})
        assert sent == 2
        assert await receive(first) == {"type": "update", "data": {"n": 1}}
        assert await receive(second) == {"type": "update", "data": {"n": 1}}
        await engine.broadcast_to_app("beta", {"type": "beta-only"})
        assert await receive(other) == {"type": "beta-only"}  # and not alpha's message


async def test_two_apps_cannot_share_a_path(engine: MongoDBEngine) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha"))
    with pytest.raises(ManifestError, match="already served by app 'alpha'"):
        await engine.register_app(ws_manifest("beta"))


async def test_the_runtime_call_registers_routes(engine: MongoDBEngine, serve: Serve) -> None:
    await engine.register_app(ws_manifest("alpha", auth={"required": False}))
    app = FastAPI()
    assert engine.register_websocket_routes(app, "alpha") == ["/ws"]
    base = await serve(app)
    async with connect(f"{base}/ws") as client:
        await client.send(json.dumps({"type": "ping"}))
        assert await receive(client) == {"type": "pong"}


async def test_refusals_close_with_1008_before_any_message(
    engine: MongoDBEngine, serve: Serve
) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha"))
    base = await serve(app)
    async with connect(f"{base}/ws") as anonymous:
        assert await closed_with(anonymous) == 1008
        assert anonymous.close_reason == "authentication required"
    async with connect(f"{base}/ws", additional_headers={"Authorization": "Bearer forged"}) as bad:
        assert await closed_with(bad) == 1008


@pytest.mark.parametrize(
    ("policy", "admits_anonymous"),
    [
        ({}, True),
        ({"required": False, "allow_anonymous": True}, True),
        ({"required": False, "allow_anonymous": False}, False),
        ({"required": True}, False),
    ],
)
async def test_without_its_own_auth_block_an_endpoint_follows_the_apps_policy(
    engine: MongoDBEngine, serve: Serve, policy: dict[str, Any], admits_anonymous: bool
) -> None:
    app = FastAPI()
    engine.attach(app)
    manifest = ws_manifest("alpha")
    del manifest["websockets"]["realtime"]["auth"]
    manifest["auth"]["policy"] = policy
    await engine.register_app(manifest)
    base = await serve(app)
    async with connect(f"{base}/ws") as anonymous:
        if admits_anonymous:
            await anonymous.send(json.dumps({"type": "ping"}))
            assert await receive(anonymous) == {"type": "pong"}
        else:
            assert await closed_with(anonymous) == 1008
    token = await login(engine, "alpha")
    async with connect(f"{base}/ws?token={token}") as user:
        await user.send(json.dumps({"type": "ping"}))
        assert await receive(user) == {"type": "pong"}


@pytest.mark.parametrize("transport", ["header", "cookie", "subprotocol", "query"])
async def test_a_token_by_every_transport(
    engine: MongoDBEngine, serve: Serve, transport: str
) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha"))
    token = await login(engine, "alpha")
    base = await serve(app)
    options: dict[str, Any] = {}
    url = f"{base}/ws"
    if transport == "header":
        options["additional_headers"] = {"Authorization": f"Bearer {token}"}
    elif transport == "cookie":
        options["additional_headers"] = {"Cookie": f"mdb_alpha_access={token}"}
    elif transport == "subprotocol":
        options["subprotocols"] = ["mdb-engine", f"bearer.{token}"]
    else:
        url += f"?token={token}"
    async with connect(url, **options) as client:
        if transport == "subprotocol":
            assert client.subprotocol == "mdb-engine"
        await asyncio.sleep(0.05)
        user_id = engine.realtime.manager.connections("alpha")[0].user_id
        await broadcast_to_app("alpha", {"to": "ada"}, user_id=user_id)
        assert await receive(client) == {"to": "ada"}


async def test_broadcast_to_one_user(engine: MongoDBEngine, serve: Serve) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha"))
    ada, bob = await login(engine, "alpha"), await login(engine, "alpha", "bob@example.com")
    base = await serve(app)
    async with (
        connect(f"{base}/ws?token={ada}") as ada_client,
        connect(f"{base}/ws?token={bob}") as bob_client,
    ):
        await asyncio.sleep(0.05)
        bob_id = next(
            c.user_id
            for c in engine.realtime.manager.connections("alpha")
            if c.user and c.user["email"] == "bob@example.com"
        )
        assert await broadcast_to_app("alpha", {"for": "bob"}, user_id=bob_id) == 1
        assert await receive(bob_client) == {"for": "bob"}
        await broadcast_to_app("alpha", {"for": "all"})
        assert await receive(ada_client) == {"for": "all"}  # not bob's message first


async def test_message_handlers_answer_the_sender(engine: MongoDBEngine, serve: Serve) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha", auth={"required": False}))

    async def echo(message: dict[str, Any], connection: Any) -> dict[str, Any]:
        if message.get("boom"):
            raise RuntimeError("handler bug")
        return {"type": "echo", "got": message, "app": connection.app}

    register_message_handler("alpha", "realtime", echo)
    base = await serve(app)
    async with connect(f"{base}/ws") as client:
        await client.send(json.dumps({"type": "hello"}))
        assert await receive(client) == {"type": "echo", "got": {"type": "hello"}, "app": "alpha"}
        await client.send("not json")
        assert (await receive(client))["type"] == "error"
        await client.send(json.dumps({"boom": True}))
        assert await receive(client) == {
            "type": "error",
            "detail": "the message could not be handled",
        }
        await client.send(json.dumps({"type": "still alive"}))
        assert (await receive(client))["got"] == {"type": "still alive"}


async def test_keepalive_pings(engine: MongoDBEngine, serve: Serve) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha", auth={"required": False}, ping_interval=0.05))
    base = await serve(app)
    async with connect(f"{base}/ws") as client:
        message = json.loads(await asyncio.wait_for(client.recv(), 2))
        assert message == {"type": "ping"}


async def test_websocket_connections_are_counted(engine: MongoDBEngine, serve: Serve) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(ws_manifest("alpha"))
    base = await serve(app)
    async with connect(f"{base}/ws") as refused:
        assert await closed_with(refused) == 1008
    token = await login(engine, "alpha")
    async with connect(f"{base}/ws?token={token}"):
        await asyncio.sleep(0.05)
        metrics = engine.get_metrics()
        assert {"labels": {"app": "alpha"}, "value": 1.0} in metrics[
            "mdb_engine_websocket_connections_open"
        ]
    attempts = {
        entry["labels"]["outcome"]: entry["value"]
        for entry in engine.get_metrics()["mdb_engine_websocket_connection_attempts_total"]
    }
    assert attempts == {"accepted": 1.0, "refused": 1.0}
