"""Metrics of scoped operations, auth events and index syncs, scraped over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pymongo import monitoring
from pymongo.errors import DuplicateKeyError

from mdb_engine import MongoDBEngine
from mdb_engine.observability import current_app_id

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"


def manifest(slug: str = "shop", **observability: Any) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": slug,
        "name": slug.title(),
        "auth": {"users": {"enabled": True}},
        "managed_indexes": {"tasks": [{"keys": {"rank": 1}, "name": "rank_1"}]},
        "observability": observability,
    }


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict[Any, float], name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


async def test_operations_auth_and_index_syncs_are_counted_and_scraped(
    engine: MongoDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MDB_ENGINE_SECRET_KEY", SECRET)
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(manifest())
    tasks = engine.get_scoped_db("shop").tasks
    await tasks.insert_one({"_id": 1})
    await tasks.insert_one({"_id": 2})
    with pytest.raises(DuplicateKeyError):
        await tasks.insert_one({"_id": 1})
    assert await tasks.find_one({"_id": 2}) == {"_id": 2, "app_id": "shop"}
    await tasks.count_documents({})
    auth = engine.get_app_auth("shop")
    assert auth is not None
    await auth.register("ada@example.com", "correct horse")
    assert await auth.login("ada@example.com", "wrong horse") is None

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    scraped = samples(response.text)
    ops = "mdb_engine_operations_total"
    labels = {"app": "shop", "collection": "tasks"}
    assert value(scraped, ops, **labels, operation="insert_one", outcome="ok") == 2
    assert value(scraped, ops, **labels, operation="insert_one", outcome="error") == 1
    assert value(scraped, ops, **labels, operation="find_one", outcome="ok") == 1
    assert value(scraped, ops, **labels, operation="count_documents", outcome="ok") == 1
    duration = "mdb_engine_operation_duration_seconds_count"
    assert value(scraped, duration, **labels, operation="insert_one") == 3
    seconds = value(
        scraped, "mdb_engine_operation_duration_seconds_sum", **labels, operation="find_one"
    )
    assert 0 < seconds < 5
    events = "mdb_engine_auth_events_total"
    assert value(scraped, events, app="shop", event="register") == 1
    assert value(scraped, events, app="shop", event="login_failed") == 1
    assert value(scraped, "mdb_engine_index_sync_total", app="shop", outcome="ok") == 1

    snapshot = engine.get_metrics()
    insert_ok = [
        entry
        for entry in snapshot[ops]
        if entry["labels"] == {**labels, "operation": "insert_one", "outcome": "ok"}
    ]
    assert insert_ok == [
        {"labels": {**labels, "operation": "insert_one", "outcome": "ok"}, "value": 2.0}
    ]


async def test_two_engines_keep_their_own_metrics(
    engine: MongoDBEngine, mongodb_uri: str, mongodb_database: str
) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "shop", "name": "Shop"})
    async with MongoDBEngine(mongodb_uri, mongodb_database) as other:
        await other.register_app({"schema_version": "2.0", "slug": "shop", "name": "Shop"})
        await engine.get_scoped_db("shop").tasks.insert_one({})
        first = engine.get_metrics()["mdb_engine_operations_total"]
        assert sum(entry["value"] for entry in first) == 1.0  # the ok count; error stays 0
        assert "mdb_engine_operations_total" not in other.get_metrics()


async def test_each_operation_runs_as_its_app(mongodb_uri: str, mongodb_database: str) -> None:
    seen: list[tuple[str, str | None]] = []

    class Listener(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            seen.append((event.command_name, current_app_id()))

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    async with MongoDBEngine(mongodb_uri, mongodb_database, event_listeners=[Listener()]) as engine:
        for slug in ("alpha", "beta"):
            await engine.register_app({"schema_version": "2.0", "slug": slug, "name": slug})
        seen.clear()
        await engine.get_scoped_db("alpha").notes.insert_one({})
        await engine.get_scoped_db("beta").notes.find_one({})
    assert seen[:2] == [("insert", "alpha"), ("find", "beta")]
    assert current_app_id() is None


async def test_the_manifest_decides_the_endpoints(engine: MongoDBEngine) -> None:
    app = FastAPI()
    engine.attach(app)
    await engine.register_app(
        {
            "schema_version": "2.0",
            "slug": "shop",
            "name": "Shop",
            "observability": {
                "metrics": {"path": "/internal/metrics"},
                "health": {"enabled": False},
            },
        }
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/internal/metrics")).status_code == 200
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/health")).status_code == 404
        assert (await client.get("/ready")).status_code == 404


async def test_a_find_is_timed_when_its_cursor_is_read(engine: MongoDBEngine) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "shop", "name": "Shop"})
    tasks = engine.get_scoped_db("shop").tasks
    await tasks.insert_many([{"n": n} for n in range(5)])
    assert len(await tasks.find({}).to_list()) == 5
    assert sorted(await tasks.find({}).distinct("n")) == [0, 1, 2, 3, 4]
    counts = {
        entry["labels"]["operation"]: entry["value"]
        for entry in engine.get_metrics()["mdb_engine_operations_total"]
        if entry["labels"]["outcome"] == "ok"
    }
    assert counts["find"] == 1
    assert counts["distinct"] == 1
    assert counts["insert_many"] == 1
