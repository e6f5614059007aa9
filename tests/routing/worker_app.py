"""The app the two-worker test runs in real uvicorn processes (configured from the env)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from mdb_engine import MongoDBEngine
from mdb_engine.auth import setup_auth_from_manifest
from mdb_engine.routing import broadcast_to_app

engine = MongoDBEngine()  # MDB_ENGINE_MONGO_URI, MDB_ENGINE_DB_NAME, MDB_ENGINE_SECRET_KEY

ALPHA = {
    "schema_version": "2.0",
    "slug": "alpha",
    "name": "Alpha",
    "auth": {"users": {"enabled": True}},
    "websockets": {"live": {"path": "/alpha/ws", "auth": {"required": True}}},
}
BETA = {
    "schema_version": "2.0",
    "slug": "beta",
    "name": "Beta",
    "websockets": {"live": {"path": "/beta/ws", "auth": {"required": False}}},
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await engine.initialize()
    engine.attach(app)
    await engine.register_app(ALPHA)
    await engine.register_app(BETA)
    await setup_auth_from_manifest(app, engine, "alpha")
    await engine.realtime.start()
    yield
    await engine.shutdown()


app = FastAPI(lifespan=lifespan)


@app.post("/broadcast/{slug}")
async def broadcast(slug: str, message: dict[str, Any]) -> dict[str, int]:
    return {"local": await broadcast_to_app(slug, message)}


@app.get("/state")
async def state() -> dict[str, Any]:
    return {
        "connections": {slug: engine.realtime.manager.count(slug) for slug in ("alpha", "beta")},
        "shared": engine.realtime.bus.is_shared,
    }
