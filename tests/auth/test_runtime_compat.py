"""MDB_RUNTIME's auth: a 1.0 manifest's ``auth_required`` and ``get_app_sub_user``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from mdb_engine import MongoDBEngine
from mdb_engine.auth import attach_engine, setup_auth_from_manifest
from mdb_engine.errors import ConfigurationError
from mdb_runtime.auth import get_app_sub_user
from tests.auth.test_auth_flow import bearer, register

LEGACY = {
    "slug": "task_manager",
    "name": "My Task App",
    "auth_required": True,
    "sub_auth": {"enabled": True},
}


def runtime_app(engine: MongoDBEngine, slug: str = "task_manager") -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        db = engine.get_scoped_db(slug)
        user = await get_app_sub_user(request, slug, db)
        return {"user": user}

    return app


async def test_auth_required_refuses_visitors_and_accepts_app_users(
    engine: MongoDBEngine,
) -> None:
    with pytest.warns(DeprecationWarning, match="1.0"):
        manifest = await engine.register_app(LEGACY)
    assert manifest.auth.policy.required is True
    app = runtime_app(engine)
    await setup_auth_from_manifest(app, engine, "task_manager")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        visitor = await client.get("/whoami")
        assert visitor.status_code == 401
        assert visitor.json()["detail"].startswith("authentication required")

        tokens = await register(client)
        client.cookies.clear()
        user = (await client.get("/whoami", headers=bearer(tokens["access_token"]))).json()
        assert user["user"]["email"] == "ada@example.com"
        assert user["user"]["user_id"] == tokens["user"]["user_id"]
        assert "password_hash" not in user["user"]

        # The user is read fresh through the scoped db: a deleted user is no user.
        await engine.get_scoped_db("task_manager").users.delete_many({})
        gone = await client.get("/whoami", headers=bearer(tokens["access_token"]))
        assert gone.status_code == 401
        assert gone.json()["detail"] == "the user no longer exists"


async def test_without_auth_required_a_visitor_is_none(engine: MongoDBEngine) -> None:
    with pytest.warns(DeprecationWarning, match="1.0"):
        await engine.register_app({**LEGACY, "auth_required": False})
    app = runtime_app(engine)
    await setup_auth_from_manifest(app, engine, "task_manager")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/whoami", headers=bearer("garbage"))
        assert response.status_code == 200
        assert response.json() == {"user": None}


async def test_an_app_without_auth_has_only_visitors(engine: MongoDBEngine) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "plain", "name": "Plain"})
    app = runtime_app(engine, "plain")
    attach_engine(app, engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/whoami")).json() == {"user": None}


async def test_a_request_without_an_attached_engine_is_a_clear_error(
    engine: MongoDBEngine,
) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "plain", "name": "Plain"})
    app = runtime_app(engine, "plain")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(ConfigurationError, match="no MongoDBEngine is attached"):
            await client.get("/whoami")
