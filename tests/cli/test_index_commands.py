"""``mdb-engine indexes plan|sync`` against the test server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from typer.testing import CliRunner

from mdb_engine.cli import app

runner = CliRunner()


def write_manifest(folder: Path, indexes: list[dict[str, Any]], slug: str = "cli_app") -> Path:
    path = folder / f"{slug}.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": "2.0",
                "slug": slug,
                "name": "CLI",
                "managed_indexes": {"tasks": indexes},
            }
        )
    )
    return path


def index_names(uri: str, database: str, collection: str) -> dict[str, dict[str, Any]]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        return {index["name"]: index for index in client[database][collection].list_indexes()}
    finally:
        client.close()


@pytest.fixture
def target(mongodb_uri: str, mongodb_database: str) -> list[str]:
    return ["--mongo-uri", mongodb_uri, "--db", mongodb_database]


def test_plan_prints_a_table_and_changes_nothing(
    tmp_path: Path, target: list[str], mongodb_uri: str, mongodb_database: str
) -> None:
    first = write_manifest(tmp_path, [{"keys": {"priority": -1}, "name": "priority_idx"}])
    second = write_manifest(tmp_path, [{"keys": {"at": 1}}], slug="other_app")
    result = runner.invoke(app, ["indexes", "plan", str(first), str(second), *target])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "app cli_app"
    assert lines[1].split() == ["COLLECTION", "INDEX", "KIND", "ACTION", "DETAIL"]
    assert lines[2].split()[:4] == ["tasks", "priority_idx", "index", "create"]
    assert '{"key":{"priority":-1}}' in lines[2]
    assert "  1 create" in result.output
    assert "app other_app" in result.output
    assert index_names(mongodb_uri, mongodb_database, "cli_app_tasks") == {}


def test_sync_creates_then_reports_unchanged(
    tmp_path: Path, target: list[str], mongodb_uri: str, mongodb_database: str
) -> None:
    manifest = write_manifest(tmp_path, [{"keys": {"priority": -1}, "name": "priority_idx"}])
    created = runner.invoke(app, ["indexes", "sync", str(manifest), *target])
    assert created.exit_code == 0, created.output
    assert "created" in created.output
    assert "1 created" in created.output
    assert "priority_idx" in index_names(mongodb_uri, mongodb_database, "cli_app_tasks")
    again = runner.invoke(app, ["indexes", "plan", str(manifest), *target])
    assert "unchanged" in again.output
    assert "1 unchanged" in again.output


def test_sync_refuses_a_conflict_and_recreate_rebuilds(
    tmp_path: Path, target: list[str], mongodb_uri: str, mongodb_database: str
) -> None:
    unique = write_manifest(tmp_path, [{"keys": {"email": 1}, "name": "email", "unique": True}])
    assert runner.invoke(app, ["indexes", "sync", str(unique), *target]).exit_code == 0
    plain = write_manifest(tmp_path, [{"keys": {"email": 1}, "name": "email"}])
    refused = runner.invoke(app, ["indexes", "sync", str(plain), *target])
    assert refused.exit_code == 1
    assert "index 'email' on collection 'tasks' (differs in unique)" in refused.output
    assert "--recreate" in refused.output
    assert index_names(mongodb_uri, mongodb_database, "cli_app_tasks")["email"]["unique"]
    rebuilt = runner.invoke(app, ["indexes", "sync", str(plain), "--recreate", *target])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "recreated" in rebuilt.output
    assert "unique" not in index_names(mongodb_uri, mongodb_database, "cli_app_tasks")["email"]


def test_sync_prune_drops_extras(
    tmp_path: Path, target: list[str], mongodb_uri: str, mongodb_database: str
) -> None:
    both = write_manifest(tmp_path, [{"keys": {"a": 1}}, {"keys": {"b": 1}}])
    assert runner.invoke(app, ["indexes", "sync", str(both), *target]).exit_code == 0
    one = write_manifest(tmp_path, [{"keys": {"a": 1}}])
    kept = runner.invoke(app, ["indexes", "sync", str(one), *target])
    assert "extra (kept)" in kept.output
    pruned = runner.invoke(app, ["indexes", "sync", str(one), "--prune", *target])
    assert pruned.exit_code == 0, pruned.output
    assert "dropped" in pruned.output
    assert set(index_names(mongodb_uri, mongodb_database, "cli_app_tasks")) == {"_id_", "a_1"}


def test_invalid_manifest_and_unreachable_server_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"slug": "bad_app", "name": "x", "managed_indexes": {"t": [{}]}}))
    invalid = runner.invoke(app, ["indexes", "plan", str(bad)])
    assert invalid.exit_code == 1
    assert "$.managed_indexes.t[0].keys" in invalid.output
    good = write_manifest(tmp_path, [{"keys": {"a": 1}}])
    misconfigured = runner.invoke(app, ["indexes", "plan", str(good), "--mongo-uri", "localhost"])
    assert misconfigured.exit_code == 1
    assert "must start with 'mongodb://'" in misconfigured.output
