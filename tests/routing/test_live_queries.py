"""Live queries over a real WebSocket: the app's matching changes are pushed, nothing else."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from mdb_engine import MongoDBEngine
from tests.routing.conftest import Serve
from tests.routing.test_websockets import login, receive, ws_manifest


async def ask(client: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await client.send(json.dumps(message))
    return await receive(client)


async def nothing_more(client: ClientConnection) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await receive(client, timeout=0.3)


async def open_app(engine: MongoDBEngine, serve: Serve, manifest: dict[str, Any]) -> str:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(manifest)
    return await serve(app)


async def test_matching_inserts_updates_and_deletes_are_pushed(
    engine: MongoDBEngine, serve: Serve
) -> None:
    base = await open_app(engine, serve, ws_manifest("alpha", auth={"required": False}))
    await engine.register_app(ws_manifest("beta", "/beta/ws"))
    tasks = engine.get_scoped_db("alpha").tasks
    await tasks.insert_one({"_id": "old", "done": False})
    async with connect(f"{base}/ws") as client:
        subscribed = await ask(
            client,
            {"type": "subscribe", "id": "s1", "collection": "tasks", "filter": {"done": False}},
        )
        assert subscribed == {"type": "subscribed", "id": "s1", "count": 1}

        await tasks.insert_one({"_id": "t1", "done": False, "title": "write"})
        change = await receive(client)
        assert change["op"] == "insert"
        # The document as the scoped find_one returns it.
        assert change["document"] == {
            "_id": "t1",
            "done": False,
            "title": "write",
            "app_id": "alpha",
        }

        await tasks.insert_one({"_id": "t2", "done": True})  # does not match
        await engine.get_scoped_db("beta").tasks.insert_one({"_id": "b1", "done": False})
        await tasks.update_one({"_id": "t1"}, {"$set": {"title": "edit"}})
        change = await receive(client)
        assert (change["op"], change["document"]["title"]) == ("update", "edit")

        await tasks.update_one({"_id": "t1"}, {"$set": {"done": True}})  # leaves the filter
        assert await receive(client) == {
            "type": "change",
            "id": "s1",
            "op": "remove",
            "document_id": "t1",
        }
        await tasks.delete_one({"_id": "old"})
        assert (await receive(client))["document_id"] == "old"
        await tasks.delete_one({"_id": "t2"})  # was never of interest
        await nothing_more(client)

        assert await ask(client, {"type": "unsubscribe", "id": "s1"}) == {
            "type": "unsubscribed",
            "id": "s1",
        }
        await tasks.insert_one({"_id": "t3", "done": False})
        await nothing_more(client)


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ({"collection": "tasks", "filter": {"$where": "true"}}, "$where"),
        ({"collection": "tasks", "filter": {"app_id": {"$ne": "x"}}}, None),
        ({"collection": "tasks", "filter": []}, "'filter' must be a JSON object"),
        ({"filter": {}}, "needs a string 'id' and 'collection'"),
        ({"collection": "_mdb_engine_sessions"}, None),
    ],
)
async def test_filters_obey_the_sandbox(
    engine: MongoDBEngine, serve: Serve, message: dict[str, Any], detail: str | None
) -> None:
    base = await open_app(engine, serve, ws_manifest("alpha", auth={"required": False}))
    async with connect(f"{base}/ws") as client:
        reply = await ask(client, {"type": "subscribe", "id": "s1", **message})
        if reply["type"] == "subscribed":
            # Allowed only as a filter inside the sandbox: it can never see another app.
            await engine.register_app(ws_manifest("beta", "/beta/ws"))
            await engine.get_scoped_db("beta").tasks.insert_one({"done": False})
            await nothing_more(client)
        else:
            assert reply["type"] == "error"
            if detail is not None:
                assert detail in reply["detail"]


async def test_authorization_is_checked_once_at_subscribe_time(
    engine: MongoDBEngine, serve: Serve
) -> None:
    manifest = ws_manifest("alpha")
    manifest["auth"]["policy"] = {
        "provider": "casbin",
        "authorization": {
            "initial_policies": [["user", "tasks", "read"]],
            "link_users_roles": True,
            "default_roles": ["user"],
        },
    }
    base = await open_app(engine, serve, manifest)
    token = await login(engine, "alpha")
    async with connect(f"{base}/ws?token={token}") as client:
        refused = await ask(client, {"type": "subscribe", "id": "s", "collection": "salaries"})
        assert refused == {"type": "error", "id": "s", "detail": "not allowed to read 'salaries'"}
        allowed = await ask(client, {"type": "subscribe", "id": "t", "collection": "tasks"})
        assert allowed["type"] == "subscribed"
        await engine.get_scoped_db("alpha").tasks.insert_one({"_id": 1})
        assert (await receive(client))["op"] == "insert"


async def test_a_disconnect_ends_the_subscriptions(engine: MongoDBEngine, serve: Serve) -> None:
    base = await open_app(engine, serve, ws_manifest("alpha", auth={"required": False}))
    async with connect(f"{base}/ws") as client:
        for n in range(3):
            reply = await ask(client, {"type": "subscribe", "id": f"s{n}", "collection": "tasks"})
            assert reply["type"] == "subscribed"
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert sum(name.startswith("live query") for name in names) == 3
    deadline = asyncio.get_running_loop().time() + 5
    while any(t.get_name().startswith("live query") for t in asyncio.all_tasks()):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
