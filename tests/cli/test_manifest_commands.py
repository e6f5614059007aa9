"""``mdb-engine validate``, ``schema`` and ``--version``, in process."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mdb_engine import __version__
from mdb_engine.cli import app
from mdb_engine.core.manifest import manifest_json_schema

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"mdb-engine {__version__}"


def test_schema_prints_the_manifest_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == manifest_json_schema()


def test_validate_valid_manifests() -> None:
    paths = [
        REPO / "examples/quickstart/manifest.json",
        REPO / "examples/quickstart/runtime/manifest.json",
    ]
    result = runner.invoke(app, ["validate", *map(str, paths)])
    assert result.exit_code == 0, result.output
    assert "app 'my_app' is valid" in result.output
    assert "app 'task_manager' is valid" in result.output
    assert "schema 1.0, which is deprecated" in result.output  # the 1.0 manifest gets a note


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps({"slug": "Bad", "name": 3, "managed_index": {}}))
    good = REPO / "examples/quickstart/manifest.json"
    result = runner.invoke(app, ["validate", str(bad), str(good)])
    assert result.exit_code == 1
    assert "$.slug: invalid slug" in result.output
    assert "$.name: expected a string" in result.output
    assert "unknown key 'managed_index' (did you mean 'managed_indexes'?)" in result.output
    assert "1 of 2 manifest(s) invalid" in result.output


def test_validate_missing_and_broken_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"slug": "x_app",\n  "name": }')
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.json"), str(broken)])
    assert result.exit_code == 1
    assert "does not exist" in result.output
    assert "line 2" in result.output
    assert "Traceback" not in result.output
