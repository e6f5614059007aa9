"""The manifest's logging block applied by the engine: app-tagged JSON lines, request ids."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mdb_engine import MongoDBEngine
from mdb_engine.auth import setup_auth_from_manifest

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"


def manifest(slug: str, fmt: str) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": slug,
        "name": slug,
        "auth": {"users": {"enabled": True}},
        "observability": {"logging": {"level": "INFO", "format": fmt}},
    }


async def serve(engine: MongoDBEngine, slug: str) -> httpx.AsyncClient:
    app = FastAPI()

    @app.get("/work/{n}")
    async def work(n: int) -> dict[str, Any]:
        await asyncio.sleep(0.001 * (n % 5))
        logging.getLogger("shop.routes").info("working on %s", n)
        await engine.get_scoped_db(slug).notes.insert_one({"n": n})
        return {"n": n}

    await setup_auth_from_manifest(app, engine, slug)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_two_apps_requests_log_with_their_app_and_request(
    engine: MongoDBEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MDB_ENGINE_SECRET_KEY", SECRET)
    root = logging.getLogger()
    previous_level = root.level
    root.setLevel(logging.INFO)  # pytest's handlers are on root: the engine only warns
    try:
        await engine.register_app(manifest("alpha", "json"))
        await engine.register_app(manifest("beta", "json"))
        alpha, beta = await serve(engine, "alpha"), await serve(engine, "beta")
        async with alpha, beta:
            calls = [(client, n) for n in range(20) for client in (alpha, beta)]
            responses = await asyncio.gather(*(client.get(f"/work/{n}") for client, n in calls))
        request_ids = {
            (client is alpha, n): response.headers["x-request-id"]
            for (client, n), response in zip(calls, responses, strict=True)
        }
        # Records of the two apps are JSON (as their manifests say); others stay text.
        err = capsys.readouterr().err.splitlines()
        lines = [json.loads(line) for line in err if line.startswith("{")]
        working = [line for line in lines if line["message"].startswith("working on")]
        assert len(working) == 40
        for line in working:
            n = int(line["message"].split()[-1])
            is_alpha = line["app_id"] == "alpha"
            assert line["app_id"] in ("alpha", "beta")
            assert line["request_id"] == request_ids[(is_alpha, n)]
    finally:
        root.setLevel(previous_level)


async def test_a_root_logger_above_the_apps_level_is_reported(
    engine: MongoDBEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MDB_ENGINE_SECRET_KEY", SECRET)
    root = logging.getLogger()
    previous_level = root.level
    root.setLevel(logging.WARNING)
    try:
        with caplog.at_level(logging.WARNING, logger="mdb_engine.core.engine"):
            await engine.register_app(manifest("alpha", "text"))
        warnings = [
            r.getMessage() for r in caplog.records if "declares log level" in r.getMessage()
        ]
        assert warnings == [
            "app 'alpha' declares log level INFO, but the root logger is at WARNING: lower it "
            "with logging.getLogger().setLevel(20) to see its records"
        ]
    finally:
        root.setLevel(previous_level)
