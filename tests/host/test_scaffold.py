"""`mdb-engine new SLUG`: a working app that `serve` runs at once and whose test passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mdb_engine.core.manifest import parse_manifest
from mdb_engine.errors import ConfigurationError
from mdb_engine.host.scaffold import scaffold_app
from tests.host.conftest import Host


def test_the_new_app_has_a_valid_manifest_code_and_a_test(tmp_path: Path) -> None:
    folder = scaffold_app("field_notes", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["app.py", "manifest.json", "test_app.py"]
    manifest = parse_manifest(json.loads((folder / "manifest.json").read_text()))
    assert manifest.slug == "field_notes"
    assert manifest.name == "Field Notes"


async def test_serve_runs_the_new_app_at_once(tmp_path: Path, host: Host) -> None:
    scaffold_app("todo", tmp_path / "apps")
    _, client = await host(tmp_path / "apps")
    created = await client.post("/apps/todo/items", json={"title": "water the garden"})
    assert created.status_code == 201, created.text
    item = created.json()
    assert (await client.get("/apps/todo/items")).json() == [item]
    assert (await client.get(f"/apps/todo/items/{item['id']}")).json() == item
    assert (await client.get("/apps/todo/items/not-an-id")).status_code == 404


def test_the_generated_test_passes(tmp_path: Path, mongodb_uri: str) -> None:
    folder = scaffold_app("todo", tmp_path)
    env = {**os.environ, "MDB_ENGINE_TEST_URI": mongodb_uri}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider", "--no-cov"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.parametrize("slug", ["A", "x", "has space", "9lives", "ünïcode"])
def test_an_invalid_slug_is_refused_and_nothing_written(tmp_path: Path, slug: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid app slug"):
        scaffold_app(slug, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "todo").mkdir()
    (tmp_path / "todo" / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigurationError, match="already exists"):
        scaffold_app("todo", tmp_path)
    assert [p.name for p in (tmp_path / "todo").iterdir()] == ["mine.txt"]
