"""benchmarks/broadcast.py runs end to end on the test server (no timing is asserted)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from pymongo import MongoClient


@pytest.fixture
def benchmark(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("broadcast")


def test_every_client_gets_every_message_on_both_paths(
    benchmark: ModuleType, mongodb_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _database_names(mongodb_uri)
    arguments = ["--connections", "20", "--messages", "10", "--rounds", "1"]
    assert benchmark.main([*arguments, "--uri", mongodb_uri, "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["connections"], report["messages"], report["rounds"]) == (20, 10, 1)
    for path in ("engine", "plain"):
        summary = report["paths"][path]
        assert summary["delivered"] == summary["expected"] == 20 * 10
        assert summary["disordered"] == summary["closed_clients"] == 0
        assert summary["rate"] > 0
        assert all(seconds > 0 for seconds in summary["last_receipt_by_worker"])
    assert report["engine_over_plain"] > 0
    assert report["missed"] == []
    assert len(report["workers"]) == 2
    for worker in report["workers"]:
        with pytest.raises(ProcessLookupError):
            os.kill(worker["pid"], 0)  # stopped and reaped
    assert not [n for n in _database_names(mongodb_uri) - before if n.startswith("mdb_bench_")]


def test_markdown_report_lists_missed_targets(benchmark: ModuleType) -> None:
    engine = _summary(rate=40_000.0, seconds=2.5, delivered=99_000, closed_clients=4)
    report = {
        "connections": 500,
        "messages": 200,
        "size": 256,
        "rounds": 3,
        "paths": {"engine": engine, "plain": _summary(rate=50_000.0, seconds=2.0)},
        "engine_over_plain": 0.8,
    }
    text = benchmark.render(report)
    assert "| engine | 40,000 | 2,500 ms | 0.80 | 2.00 s | 1.00 s |" in text
    assert "| plain | 50,000 | 2,000 ms | 1.00 | 2.00 s | 1.00 s |" in text
    assert "the other worker (change stream) after 2,000 ms" in text
    assert text.endswith(
        "Targets missed: engine: 1,000 of 100,000 messages not delivered; "
        "engine: 4 clients closed early (codes 1013)"
    )
    engine.update(delivered=100_000, closed_clients=0, close_codes=[])
    assert benchmark.render(report).endswith("All targets met.")


def _summary(
    rate: float, seconds: float, delivered: int = 100_000, closed_clients: int = 0
) -> dict[str, Any]:
    return {
        "rate": rate,
        "rates": [rate],
        "seconds": seconds,
        "send_seconds": 1.5,
        "last_receipt_by_worker": [1.9, 2.0],
        "worker_cpu_seconds": 2.0,
        "client_cpu_seconds": 1.0,
        "delivered": delivered,
        "expected": 100_000,
        "disordered": 0,
        "closed_clients": closed_clients,
        "close_codes": [1013] if closed_clients else [],
    }


def _database_names(uri: str) -> set[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        return set(client.list_database_names())
    finally:
        client.close()
