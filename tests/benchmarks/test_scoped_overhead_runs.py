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
        assert float(row[6].split()[0]) > 0  # observer: scoped / scoped without observer
    for row in server_table:
        assert len(row) == 6  # operation, four contenders, scoped − raw
    assert "Targets missed:" in output or "All targets met" in output
    created = _database_names(mongodb_uri) - before
    assert not [name for name in created if name.startswith("mdb_bench_")]


def _result(benchmark: ModuleType, unobserved_median: float) -> Any:
    """A made-up count_documents row: scoped is 120 µs against 100 µs for both raw contenders."""
    summary = benchmark.Summary(median=100.0, p25=90.0, p75=120.0, calls=10)
    slower = benchmark.Summary(median=120.0, p25=110.0, p75=130.0, calls=10)
    unobserved = benchmark.Summary(median=unobserved_median, p25=105.0, p75=125.0, calls=10)
    return benchmark.Result(
        "count_documents",
        summary,
        summary,
        slower,
        unobserved,
        1.10,
        (1.1, 1.3),
        (1.1, 1.3),
        (1.0, 1.1),
    )


def test_json_report(benchmark: ModuleType) -> None:
    environment = {"python": "3.11", "rounds": 1}

    report = json.loads(benchmark.as_json(environment, [_result(benchmark, 115.0)]))

    assert report["environment"] == environment
    (row,) = report["results"]
    assert row["scoped"]["median_us"] == 120.0
    assert row["scoped_unobserved"]["median_us"] == 115.0
    assert row["scoped_over_raw"] == pytest.approx(1.2)
    assert row["scoped_over_raw_interval"] == [1.1, 1.3]
    assert row["scoped_over_unobserved"] == pytest.approx(120 / 115)
    assert row["scoped_over_unobserved_interval"] == [1.0, 1.1]
    assert row["missed"] == [  # the target, the wrapper's 1.05 and the observer's 1.03
        "count_documents: scoped / raw 1.200 [1.100, 1.300] > 1.10",
        "count_documents: scoped / raw scoped 1.200 [1.100, 1.300] > 1.05",
        "count_documents: scoped / scoped without observer 1.043 [1.000, 1.100] > 1.03",
    ]


def test_markdown_row_shows_the_observer_and_judges_it(benchmark: ModuleType) -> None:
    environment = {
        "mdb_engine": "0",
        "python": "3.11",
        "pymongo": "4",
        "mongod": "8",
        "server": "test",
        "cpus": 2,
        "load_average": [0.1, 0.2],
        "declared_index": {"cat": 1},
        "rounds": 1,
        "ops_per_round": 10,
    }

    within = benchmark.markdown(environment, [_result(benchmark, 119.0)])
    beyond = benchmark.markdown(environment, [_result(benchmark, 115.0)])

    ((row,),) = _tables(within)
    assert row == [
        "count_documents",
        "100 (90–120)",
        "100 (90–120)",
        "120 (110–130)",
        "1.200 [1.10, 1.30]",
        "1.200 [1.10, 1.30]",
        "1.008 [1.00, 1.10]",  # observer: 120 / 119
        "≤ 1.10",
    ]
    assert "scoped without observer" not in within.split("Targets missed:")[1]
    observer_miss = "count_documents: scoped / scoped without observer 1.043 [1.000, 1.100] > 1.03"
    assert f"- {observer_miss}" in beyond


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
