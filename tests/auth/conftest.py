"""Shared pieces of the auth HTTP tests: a secret, a FastAPI app per engine app, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mdb_engine import MongoDBEngine
from mdb_engine.auth import setup_auth_from_manifest

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"

AppFactory = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MDB_ENGINE_SECRET_KEY", SECRET)
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    return SECRET


def users_manifest(slug: str = "shop", **users: Any) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": slug,
        "name": slug.title(),
        "auth": {"users": {"enabled": True, "strategy": "app_users", **users}},
    }


@pytest.fixture
async def make_app() -> AsyncIterator[AppFactory]:
    clients: list[httpx.AsyncClient] = []

    async def make(
        engine: MongoDBEngine,
        slug: str,
        *,
        base_url: str = "http://test",
        configure: Callable[[FastAPI], None] | None = None,
    ) -> tuple[FastAPI, httpx.AsyncClient]:
        app = FastAPI()
        if configure is not None:
            configure(app)
        await setup_auth_from_manifest(app, engine, slug)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        clients.append(client)
        return app, client

    yield make
    for client in clients:
        await client.aclose()
