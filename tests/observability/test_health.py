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
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/ready")).status_code == 200

            await mongod.astop()
            started = time.monotonic()
            down = await client.get("/ready")
            assert down.status_code == 503
            assert down.json()["database"]["reachable"] is False
            assert time.monotonic() - started < 5  # answered quickly, not after a long wait
            assert (await client.get("/health")).status_code == 200  # alive all the same

            await mongod.astart()
            deadline = time.monotonic() + 60
            while (await client.get("/ready")).status_code != 200:
                assert time.monotonic() < deadline, "readiness never recovered"
                await asyncio.sleep(0.2)
            # No restart of the engine: its operations work again too.
            await engine.get_scoped_db("shop").notes.insert_one({"back": True})
    finally:
        await engine.shutdown()
        await mongod.astop()
