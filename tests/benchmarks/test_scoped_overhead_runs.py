"""benchmarks/scoped_overhead.py runs end to end on the test server (no timing is asserted)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from pymongo import MongoClient

OPERATIONS = [
    "insert_one",
    "find_one by _id",
    "find 100 + to_list",
    "update_one by _id",
    "count_documents",
    "aggregate $match+$group",
]


@pytest.fixture
def benchmark(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:
    return load_benchmark("scoped_overhead")


def test_runs_and_prints_every_operation_with_numeric_ratios(
    benchmark: ModuleType, mongodb_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _database_names(mongodb_uri)
    arguments = ["--rounds", "2", "--ops-per-round", "3", "--uri", mongodb_uri, "--server-time"]
    assert benchmark.main(arguments) == 0

    output = capsys.readouterr().out
    latency_table, server_table = _tables(output)
    for table in (latency_table, server_table):
        assert [row[0] for row in table] == OPERATIONS
    for row in latency_table:
        assert float(row[4].split()[0]) > 0  # scoped / raw
        assert float(row[5].split()[0]) > 0  # scoped / raw scoped
    assert "Targets missed:" in output or "All targets met" in output
    created = _database_names(mongodb_uri) - before
    assert not [name for name in created if name.startswith("mdb_bench_")]


def test_json_report(benchmark: ModuleType) -> None:
    summary = benchmark.Summary(median=100.0, p25=90.0, p75=120.0, calls=10)
    slower = benchmark.Summary(median=120.0, p25=110.0, p75=130.0, calls=10)
    result = benchmark.Result(
        "count_documents", summary, summary, slower, 1.10, (1.1, 1.3), (1.1, 1.3)
    )
    environment = {"python": "3.11", "rounds": 1}

    report = json.loads(benchmark.as_json(environment, [result]))

    assert report["environment"] == environment
    (row,) = report["results"]
    assert row["scoped"]["median_us"] == 120.0
    assert row["scoped_over_raw"] == pytest.approx(1.2)
    assert row["scoped_over_raw_interval"] == [1.1, 1.3]
    assert len(row["missed"]) == 2  # the target and the wrapper's 1.05


def _tables(output: str) -> list[list[list[str]]]:
    """The rows of each Markdown table in ``output``, without header and rule."""
    tables: list[list[list[str]]] = []
    previous_is_row = False
    for line in output.splitlines():
        is_row = line.startswith("|")
        if is_row and not previous_is_row:
            tables.append([])
        if is_row:
            tables[-1].append([cell.strip() for cell in line.strip().strip("|").split("|")])
        previous_is_row = is_row
    return [table[2:] for table in tables]


def _database_names(uri: str) -> set[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        return set(client.list_database_names())
    finally:
        client.close()
