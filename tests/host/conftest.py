"""A host application on the test database, driven in process through its lifespan."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from mdb_engine.host import create_host_app
from tests.auth.conftest import SECRET, secret_key  # noqa: F401 (autouse fixture)

REPO_ROOT = Path(__file__).resolve().parents[2]
GARDEN = REPO_ROOT / "examples" / "garden"

Host = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def garden(tmp_path: Path) -> Path:
    """A copy of examples/garden that a test may change."""
    copy = tmp_path / "garden"
    shutil.copytree(GARDEN, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.fixture
async def host(mongodb_uri: str, mongodb_database: str) -> AsyncIterator[Host]:
    """``await host(apps_dir)``: the started host application and a client for it."""
    started: list[tuple[FastAPI, httpx.AsyncClient, AsyncIterator[None]]] = []

    async def start(apps_dir: Path, **options: object) -> tuple[FastAPI, httpx.AsyncClient]:
        options.setdefault("admin", False)
        app = create_host_app(apps_dir, mongo_uri=mongodb_uri, db_name=mongodb_database, **options)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://host")
        started.append((app, client, lifespan))
        return app, client

    yield start
    for _, client, lifespan in reversed(started):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
