"""The ``anonymous_session`` strategy: every visitor gets a session of its own."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from mdb_engine import MongoDBEngine
from mdb_engine.auth import get_current_user
from tests.auth.conftest import AppFactory, users_manifest


def with_whoami(app: FastAPI) -> None:
    @app.get("/whoami")
    async def whoami(user: Annotated[dict[str, Any], Depends(get_current_user)]) -> dict[str, Any]:
        return user


async def test_a_visitor_gets_an_anonymous_session_that_sticks(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest(strategy="anonymous_session"))
    app, client = await make_app(engine, "shop", configure=with_whoami)

    first = await client.get("/whoami")
    assert first.status_code == 200
    visitor = first.json()
    assert visitor["anonymous"] is True
    assert visitor["user_id"].startswith("anon_")
    assert "mdb_shop_access" in client.cookies

    again = await client.get("/whoami")
    assert again.json()["user_id"] == visitor["user_id"]  # the cookie carries the session

    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    async with other:
        stranger = (await other.get("/whoami")).json()
    assert stranger["user_id"] != visitor["user_id"]


async def test_anonymous_sessions_have_no_accounts(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest(strategy="anonymous_session"))
    _, client = await make_app(engine, "shop")
    started = await client.post("/auth/session")
    assert started.status_code == 200
    assert started.json()["user"]["anonymous"] is True
    login = await client.post("/auth/login", json={"email": "a@example.com", "password": "x"})
    assert login.status_code == 404
    refreshed = await client.post("/auth/refresh")
    assert refreshed.status_code == 200


async def test_app_users_have_no_anonymous_sessions(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop", configure=with_whoami)
    assert (await client.post("/auth/session")).status_code == 404
    assert (await client.get("/whoami")).status_code == 401
