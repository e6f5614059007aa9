"""benchmarks/vector_search.py runs end to end (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pymongo import MongoClient
from vector_standin import VectorSearchStandIn

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vector_search.py"


@pytest.fixture
def benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("vector_search_benchmark", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_runs_on_a_plain_server_and_prints_the_exact_paths(
    benchmark: ModuleType, mongodb_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _database_names(mongodb_uri)
    arguments = ["--sizes", "150,300", "--rounds", "1", "--k", "5", "--uri", mongodb_uri]
    assert benchmark.main([*arguments, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [size["documents"] for size in report["sizes"]] == [150, 300]
    for size in report["sizes"]:
        assert set(size["median_seconds"]) == {"client", "numpy", "database"}
        assert size["over_client"]["client"] == 1.0
        assert size["exact_paths_agree"] is True
        assert size["vector_search_recall"] is None
    assert not [n for n in _database_names(mongodb_uri) - before if n.startswith("mdb_bench_")]
    text = benchmark.render(report)
    assert "| 150 | numpy |" in text
    assert "$vectorSearch not measured" in text


def test_runs_through_a_throttled_link_and_prints_one_row_per_link(
    benchmark: ModuleType, mongodb_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _database_names(mongodb_uri)
    arguments = ["--sizes", "200", "--rounds", "1", "--k", "5", "--uri", mongodb_uri]
    link = ["--link-mbit", "200", "--link-latency-ms", "0.5"]
    assert benchmark.main([*arguments, *link, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "link"
    assert report["latency_ms"] == 0.5
    [size] = report["sizes"]
    assert size["documents"] == 200
    assert [link["link"] for link in size["links"]] == ["direct", "link, no limit", "200 Mbit/s"]
    assert [link["mbit"] for link in size["links"]] == [None, None, 200]
    for row in size["links"]:
        assert set(row["median_seconds"]) == {"numpy", "database"}
        assert row["exact_paths_agree"] is True
    # numpy receives every vector (~4.9 KB each), the database path only the best k.
    assert size["server_bytes_per_query"]["numpy"] > 200 * 4000
    assert size["server_bytes_per_query"]["database"] < 50_000
    assert not [n for n in _database_names(mongodb_uri) - before if n.startswith("mdb_bench_")]
    text = benchmark.render(report)
    assert "| documents | link | numpy | database | database / numpy |" in text
    assert "| 200 | direct |" in text
    assert "| 200 | 200 Mbit/s |" in text
    assert "200 documents: the server sends" in text


async def test_measures_vector_search_where_the_server_has_it(
    benchmark: ModuleType, vector_standin: VectorSearchStandIn
) -> None:
    report = await benchmark.measure(vector_standin.uri, [120], 1, 5)
    [size] = report["sizes"]
    assert set(size["median_seconds"]) == {"client", "numpy", "database", "$vectorSearch"}
    assert size["vector_search_recall"] == 1.0  # the stand-in answers exactly
    assert vector_standin.vector_searches
    assert "recall@5 1.00" in benchmark.render(report)


def _database_names(uri: str) -> set[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        return set(client.list_database_names())
    finally:
        client.close()
