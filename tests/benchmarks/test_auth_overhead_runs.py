"""benchmarks/auth_overhead.py runs end to end on the test server (no timing is asserted)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from mdb_engine import MongoDBEngine
from mdb_engine.auth import CasbinProvider, setup_auth_from_manifest


@pytest.fixture
def benchmark(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("auth_overhead")


def test_runs_and_reports_every_contender_with_authorized_requests(
    benchmark: ModuleType, mongodb_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _database_names(mongodb_uri)
    arguments = ["--rounds", "2", "--requests-per-round", "3", "--uri", mongodb_uri, "--json"]
    assert benchmark.main(arguments) == 0

    report = json.loads(capsys.readouterr().out)
    assert set(report["latency_us"]) == {"open", "authenticated", "guarded"}
    assert set(report["steps_us"]) == set(benchmark.STEPS)
    assert "authenticate" in report["steps_us"]
    for summary in (*report["latency_us"].values(), *report["steps_us"].values()):
        assert summary["calls"] == 2 * 3
        assert summary["failures"] == 0  # every guarded request was authenticated and allowed
        assert 0 < summary["p25"] <= summary["median"] <= summary["p75"]
    for ratio in ("guarded_over_open", "authenticated_over_open"):
        low, high = report[f"{ratio}_interval"]
        assert report[ratio] > 0
        assert 0 < low <= high
    assert report["target"] == 1.3
    assert all(miss.startswith("guarded / open") for miss in report["missed"])
    assert not [n for n in _database_names(mongodb_uri) - before if n.startswith("mdb_bench_")]


async def test_the_guarded_endpoint_refuses_strangers_and_users_without_the_role(
    benchmark: ModuleType, engine: MongoDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MDB_ENGINE_SECRET_KEY", "benchmark-test-secret-0123456789-abcdef")
    await engine.register_app(dict(benchmark.MANIFEST))
    await engine.get_scoped_db("bench").items.insert_one({"_id": 1, "title": "item 1"})
    app = benchmark.build_app(engine)
    provider = (await setup_auth_from_manifest(app, engine, "bench")).provider
    assert isinstance(provider, CasbinProvider)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        assert (await client.get("/open/1")).json() == {"title": "item 1"}
        assert (await client.get("/guarded/1")).status_code == 401
        headers = {"Authorization": f"Bearer {await benchmark.sign_up(client)}"}
        assert (await client.get("/guarded/1", headers=headers)).json() == {"title": "item 1"}
        await provider.remove_role_for_user("reader@bench.example", "reader")
        assert (await client.get("/authenticated/1", headers=headers)).status_code == 200
        assert (await client.get("/guarded/1", headers=headers)).status_code == 403


def test_markdown_report_lists_missed_targets(benchmark: ModuleType) -> None:
    def summary(median: float, failures: int = 0) -> dict[str, Any]:
        return {"median": median, "p25": median, "p75": median, "calls": 10, "failures": failures}

    report = {
        "rounds": 2,
        "requests_per_round": 5,
        "latency_us": {
            "open": summary(1000),
            "authenticated": summary(1300),
            "guarded": summary(1500, failures=1),
        },
        "steps_us": {name: summary(100) for name in benchmark.STEPS},
        "guarded_over_open": 1.5,
        "guarded_over_open_interval": [1.4, 1.6],
        "authenticated_over_open": 1.3,
        "authenticated_over_open_interval": [1.2, 1.4],
        "target": 1.3,
    }
    text = benchmark.render(report)
    assert "| guarded | 1,500 (1,500–1,500) | 1.50 [1.40, 1.60] | ≤ 1.3 |" in text
    assert "authentication +300 µs, authorization +200 µs" in text
    assert text.endswith(
        "Targets missed: guarded / open 1.50 [1.40, 1.60] > 1.3; guarded: 1 of 10 calls failed"
    )


def test_render_says_when_every_target_is_met(benchmark: ModuleType) -> None:
    summary = {"median": 100.0, "p25": 90.0, "p75": 110.0, "calls": 4, "failures": 0}
    report = {
        "rounds": 1,
        "requests_per_round": 4,
        "latency_us": dict.fromkeys(benchmark.CONTENDERS, summary),
        "steps_us": dict.fromkeys(benchmark.STEPS, summary),
        "guarded_over_open": 1.0,
        "guarded_over_open_interval": [0.9, 1.1],
        "authenticated_over_open": 1.0,
        "authenticated_over_open_interval": [0.9, 1.1],
        "target": 1.3,
    }
    assert benchmark.render(report).endswith("All targets met.")


def _database_names(uri: str) -> set[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        return set(client.list_database_names())
    finally:
        client.close()
