"""Importing an app folder's code: a package of its own per folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI

from mdb_engine.host import AppCodeError, AppFolder, discover_app_folders
from mdb_engine.host.loading import load_app_code


def make_folder(root: Path, name: str, code: str | None, **files: str) -> AppFolder:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    if code is not None:
        (folder / "app.py").write_text(code)
    for file_name, text in files.items():
        (folder / f"{file_name}.py").write_text(text)
    return AppFolder(folder)


def test_a_router_or_an_app_is_found(tmp_path: Path) -> None:
    router_code = "from fastapi import APIRouter\nrouter = APIRouter()\n"
    routed = make_folder(tmp_path, "routed", router_code)
    full = make_folder(tmp_path, "full", "from fastapi import FastAPI\napp = FastAPI()\n")
    assert isinstance(load_app_code(routed).router, APIRouter)
    assert load_app_code(routed).app is None
    assert isinstance(load_app_code(full).app, FastAPI)


def test_no_code_is_an_empty_app(tmp_path: Path) -> None:
    code = load_app_code(make_folder(tmp_path, "bare", None))
    assert code.app is None
    assert code.router is None


def test_sibling_modules_of_two_apps_never_meet(tmp_path: Path) -> None:
    uses_helper = "from fastapi import APIRouter\nfrom .helpers import NAME\nrouter = APIRouter()\n"
    first = make_folder(tmp_path, "first", uses_helper, helpers="NAME = 'first'\n")
    second = make_folder(tmp_path, "second", uses_helper, helpers="NAME = 'second'\n")
    first_router = load_app_code(first).router
    second_router = load_app_code(second).router
    assert first_router is not None
    assert second_router is not None
    first_module = sys.modules[_package(first) + ".app"]
    second_module = sys.modules[_package(second) + ".app"]
    assert first_module.NAME == "first"
    assert second_module.NAME == "second"


def _package(folder: AppFolder) -> str:
    from mdb_engine.host.loading import _package_name

    return _package_name(folder.path)


def test_code_is_imported_fresh_each_time(tmp_path: Path) -> None:
    code = "from fastapi import FastAPI\napp = FastAPI(title='1')\n"
    folder = make_folder(tmp_path, "fresh", code)
    assert load_app_code(folder).app.title == "1"  # type: ignore[union-attr]
    (folder.path / "app.py").write_text("from fastapi import FastAPI\napp = FastAPI(title='2')\n")
    assert load_app_code(folder).app.title == "2"  # type: ignore[union-attr]


def test_code_exposing_nothing_says_what_to_define(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "empty", "x = 1\n")
    with pytest.raises(AppCodeError, match=r"define `router = APIRouter\(\)`"):
        load_app_code(folder)


def test_code_that_fails_to_import_names_the_file_and_the_error(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "typo", "import definitely_not_a_module\n")
    with pytest.raises(AppCodeError) as raised:
        load_app_code(folder)
    message = str(raised.value)
    assert str(folder.path / "app.py") in message
    assert "ModuleNotFoundError" in message
    assert "definitely_not_a_module" in message


def test_discovery_skips_hidden_private_and_manifestless_folders(tmp_path: Path) -> None:
    for name in ("b_app", "a_app", ".hidden", "_private", "no_manifest"):
        (tmp_path / name).mkdir()
        if name != "no_manifest":
            (tmp_path / name / "manifest.json").write_text("{}")
    (tmp_path / "loose.json").write_text("{}")
    assert [f.path.name for f in discover_app_folders(tmp_path)] == ["a_app", "b_app"]


def test_a_folder_holding_a_manifest_is_one_app(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "manifest.json").write_text("{}")
    assert discover_app_folders(tmp_path) == [AppFolder(tmp_path)]
