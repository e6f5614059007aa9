"""benchmarks/index_sync.py runs end to end on the test server (no timing is asserted)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from pymongo import MongoClient


@pytest.fixture
def benchmark(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("index_sync")


def test_runs_and_prints_both_ratios(
    benchmark: ModuleType, mongodb_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _database_names(mongodb_uri)
    assert benchmark.main(["--apps", "3", "--rounds", "1", "--uri", mongodb_uri, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["apps"] == 3
    assert report["indexes_per_app"] == 6
    assert report["cold_over_direct"] > 0
    assert 0 < report["warm_over_cold"] < 1  # warm sends no index command at all
    assert set(report["median_seconds"]) == {"direct", "cold", "warm"}
    assert not [n for n in _database_names(mongodb_uri) - before if n.startswith("mdb_bench_")]


def test_markdown_report_lists_missed_targets(benchmark: ModuleType) -> None:
    report = {
        "apps": 50,
        "indexes_per_app": 6,
        "rounds": 5,
        "median_seconds": {"direct": 1.0, "cold": 1.5, "warm": 0.05},
        "cold_over_direct": 1.5,
        "warm_over_cold": 0.05 / 1.5,
    }
    text = benchmark.render(report)
    assert "| engine sync, cold | 1500.0 ms | 1.50 × direct | ≤ 1.2 |" in text
    assert text.endswith("Targets missed: cold / direct 1.50 > 1.2")


def test_the_benchmark_specs_are_the_engine_s_declarations(benchmark: ModuleType) -> None:
    manifest = benchmark.app_manifest(7)
    assert manifest.slug == "bench007"
    assert sum(len(specs) for specs in manifest.managed_indexes.values()) == 6


def _database_names(uri: str) -> set[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        return set(client.list_database_names())
    finally:
        client.close()
