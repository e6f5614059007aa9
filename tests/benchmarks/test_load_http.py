"""benchmarks/load_http.py runs end to end on the test server (no timing is asserted)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pymongo import MongoClient


@pytest.fixture
def benchmark(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("load_http")


def test_both_apps_serve_every_kind_of_request_without_errors(
    benchmark: ModuleType, mongodb_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _database_names(mongodb_uri)
    report_path = tmp_path / "load.json"
    arguments = ["--clients", "8", "--duration", "2", "--rounds", "1", "--login-every", "20"]
    assert benchmark.main([*arguments, "--mongo-uri", mongodb_uri, "--json", str(report_path)]) == 0

    report = json.loads(report_path.read_text())
    assert report["settings"]["clients"] == 8
    assert set(report["apps"]) == {"plain", "engine"}
    for app, summary in report["apps"].items():
        assert summary["errors"] == {}, app
        assert summary["register"]["requests"] == 8
        for kind in benchmark.KINDS:
            assert summary["latency"][kind]["requests"] > 0, (app, kind)
            assert 0 < summary["latency"][kind]["p50_ms"] <= summary["latency"][kind]["p99_ms"]
        (run,) = summary["runs"]
        assert run["requests"] == summary["latency"]["overall"]["requests"]
        assert run["rate"] > 0
        assert run["items_stored"] == run["items_held"] > 0  # no write lost or invented
        assert run["client_cpu_seconds"] > 0
        assert run["worker_cpu_seconds"] > 0
        assert run["worker_cpu_ms_per_request"] > 0
        assert run["server_operations_per_request"] >= 1  # each request reaches mongod
        assert len(run["workers"]) == 2
        assert [worker["connections"] for worker in run["workers"]] == [4, 4]  # balanced
        for worker in run["workers"]:
            assert worker["rss_start"] > 0
            assert worker["rss_end"] > 0
            with pytest.raises(ProcessLookupError):
                os.kill(worker["pid"], 0)  # stopped and reaped
    assert report["engine_over_plain"] > 0
    assert report["missed"] in ([], [f"engine / plain {report['engine_over_plain']:.2f} < 0.9"])

    printed = capsys.readouterr().out
    assert f"engine / plain: {report['engine_over_plain']:.2f}" in printed
    assert "| engine |" in printed
    assert "| plain |" in printed
    assert not [n for n in _database_names(mongodb_uri) - before if n.startswith("mdb_bench_")]


def test_report_lists_errors_lost_items_and_a_low_ratio(benchmark: ModuleType) -> None:
    engine = _summary(rate=800.0, errors={"get: HTTP 500": 3}, held=10, stored=9)
    report: dict[str, Any] = {
        "settings": {
            "clients": 200,
            "duration": 60,
            "rounds": 1,
            "workers": 2,
            "client_processes": 2,
            "login_every": 1000,
            "seed_items": 5,
        },
        "apps": {"plain": _summary(rate=1000.0), "engine": engine},
        "engine_over_plain": 0.8,
        "round_ratios": [0.8],
    }
    text = benchmark.render(report)
    assert "| engine | 800 | 800 | 0.80 | 3 |" in text
    assert "- engine errors: get: HTTP 500 × 3" in text
    assert "- plain: 64 → 128 MB 50 % 100" in text
    assert text.endswith(
        "Targets missed: engine: 3 errors; engine: 9 items stored, clients hold 10; "
        "engine / plain 0.80 < 0.9"
    )
    report["apps"]["engine"] = _summary(rate=950.0)
    report["engine_over_plain"] = 0.95
    assert benchmark.render(report).endswith("All targets met.")


def _summary(
    rate: float, errors: dict[str, int] | None = None, held: int = 10, stored: int = 10
) -> dict[str, Any]:
    row = {"requests": 10, "p50_ms": 1.0, "p99_ms": 2.0}
    return {
        "rate": rate,
        "rates": [rate],
        "latency": dict.fromkeys(("login", "create", "get", "list", "update", "delete"), row)
        | {"overall": row},
        "register": row,
        "errors": errors or {},
        "runs": [
            {
                "seconds": 60.0,
                "client_cpu_seconds": 6.0,
                "worker_cpu_seconds": 60.0,
                "mongod_cpu_seconds": None,
                "server_operations_per_request": 1.0,
                "worker_cpu_ms_per_request": 1.0,
                "workers": [
                    {
                        "pid": 1,
                        "rss_start": 2**26,
                        "rss_end": 2**27,
                        "cpu_seconds": 30.0,
                        "connections": 100,
                    }
                ],
                "items_held": held,
                "items_stored": stored,
            }
        ],
    }


def _database_names(uri: str) -> set[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        return set(client.list_database_names())
    finally:
        client.close()
