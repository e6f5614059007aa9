"""Liveness and readiness; readiness follows the database down and back up by itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from mdb_engine import MongoDBEngine
from mdb_engine.embedded import LocalMongod
from tests.routing.conftest import free_port

MANIFEST = {"schema_version": "2.0", "slug": "shop", "name": "Shop", "observability": {}}


async def test_health_and_ready_report_the_database(engine: MongoDBEngine) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(MANIFEST)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/health")).json() == {"status": "alive"}
        ready = await client.get("/ready")
    assert ready.status_code == 200
    report = ready.json()
    assert report["status"] == "ready"
    assert report["apps"] == ["shop"]
    assert report["database"]["reachable"] is True
    assert report["replica_set"]["state"] == "PRIMARY"
    assert report["replica_set"]["name"] == "rs0"
    assert report["database"]["latency_ms"] >= 0
    assert report["checked_at"].endswith("+00:00")


async def test_readiness_is_503_while_mongod_is_down_and_recovers(tmp_path: Path) -> None:
    mongod = LocalMongod(data_dir=tmp_path / "db", port=free_port())
    await mongod.astart()
    engine = MongoDBEngine(mongod.uri, "health_test", server_selection_timeout_ms=2000)
    try:
        await engine.initialize()
        app = FastAPI()
        engine.attach(app)
        await engine.register_app(MANIFEST)

        @app.post("/notes")
        async def add_note() -> dict[str, str]:
            result = await engine.get_scoped_db("shop").notes.insert_one({"n": 1})
            return {"id": str(result.inserted_id)}

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/ready")).status_code == 200
            assert (await client.post("/notes")).status_code == 200

            await mongod.astop()
            started = time.monotonic()
            down = await client.get("/ready")
            assert down.status_code == 503
            assert down.json()["database"]["reachable"] is False
            assert time.monotonic() - started < 5  # answered quickly, not after a long wait
            assert (await client.get("/health")).status_code == 200  # alive all the same
            # A request that needs the database: a clear 503 once server selection gives up.
            started = time.monotonic()
            refused = await client.post("/notes")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "2"
            assert "database is unavailable" in refused.json()["detail"]
            assert refused.json()["error"] == "ServerSelectionTimeoutError"
            assert time.monotonic() - started < 10

            await mongod.astart()
            deadline = time.monotonic() + 60
            while (await client.get("/ready")).status_code != 200:
                assert time.monotonic() < deadline, "readiness never recovered"
                await asyncio.sleep(0.2)
            # No restart of the engine: its operations work again too.
            assert (await client.post("/notes")).status_code == 200
            await engine.get_scoped_db("shop").notes.insert_one({"back": True})
    finally:
        await engine.shutdown()
        await mongod.astop()


async def test_database_errors_answer_503_and_the_apps_own_handler_wins(
    engine: MongoDBEngine,
) -> None:
    from fastapi.responses import PlainTextResponse
    from pymongo.errors import AutoReconnect, NotPrimaryError

    plain, own = FastAPI(), FastAPI()

    @own.exception_handler(AutoReconnect)
    async def mine(request: object, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("mine", status_code=599)

    for app in (plain, own):
        engine.attach(app)

        @app.get("/election")
        async def election() -> None:
            raise NotPrimaryError("not primary")

        @app.get("/reconnect")
        async def reconnect() -> None:
            raise AutoReconnect("connection reset")

    answers = {}
    for name, app in (("plain", plain), ("own", own)):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers[name] = [await client.get(path) for path in ("/election", "/reconnect")]
    assert [r.status_code for r in answers["plain"]] == [503, 503]
    assert answers["plain"][0].json()["error"] == "NotPrimaryError"
    # NotPrimaryError is an AutoReconnect: the app's own handler takes both.
    assert [(r.status_code, r.text) for r in answers["own"]] == [(599, "mine"), (599, "mine")]
