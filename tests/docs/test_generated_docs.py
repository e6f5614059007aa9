"""docs/manifest-reference.md and docs/api.md are what docs/generate.py writes, and say enough."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import mdb_engine
from mdb_engine.core.manifest import SLUG_PATTERN, manifest_json_schema

REPO_ROOT = Path(__file__).resolve().parents[2]
REGENERATE = ".venv/bin/python docs/generate.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_generate", REPO_ROOT / "docs" / "generate.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_generator()


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    return {path.name: text for path, text in generator.generate().items()}


@pytest.fixture(scope="module")
def manifest_doc(documents: dict[str, str]) -> str:
    return documents["manifest-reference.md"]


@pytest.fixture(scope="module")
def api_doc(documents: dict[str, str]) -> str:
    return documents["api.md"]


@pytest.mark.parametrize("name", ["manifest-reference.md", "api.md"])
def test_committed_document_is_up_to_date(name: str, documents: dict[str, str]) -> None:
    committed = (REPO_ROOT / "docs" / name).read_text(encoding="utf-8")

    assert committed == documents[name], f"docs/{name} is out of date: run {REGENERATE}"


def test_generation_is_deterministic(documents: dict[str, str]) -> None:
    again = {path.name: text for path, text in generator.generate().items()}

    assert again == documents


def test_check_reports_a_stale_document_and_writing_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(generator, "DOCS", tmp_path)
    monkeypatch.setattr(generator, "DOCUMENTS", {"reference.md": lambda: "fresh\n"})
    (tmp_path / "reference.md").write_text("stale\n", encoding="utf-8")

    assert generator.main(["--check"]) == 1
    assert f"is out of date: run {REGENERATE}" in capsys.readouterr().err
    assert generator.main([]) == 0
    assert (tmp_path / "reference.md").read_text(encoding="utf-8") == "fresh\n"
    assert generator.main(["--check"]) == 0


def anchors(text: str) -> set[str]:
    return set(re.findall(r'<a id="([^"]+)"></a>', text))


@pytest.mark.parametrize("name", ["manifest-reference.md", "api.md"])
def test_every_link_within_a_document_has_its_anchor(name: str, documents: dict[str, str]) -> None:
    text = documents[name]
    targets = set(re.findall(r"\]\(#([^)]+)\)", text))

    assert targets, "the document links nothing"
    assert targets <= anchors(text), sorted(targets - anchors(text))


def test_api_links_into_the_manifest_reference_have_their_anchor(
    api_doc: str, manifest_doc: str
) -> None:
    targets = set(re.findall(r"\]\(manifest-reference\.md#([^)]+)\)", api_doc))

    assert "top-level" in targets
    assert targets <= anchors(manifest_doc)


def test_manifest_reference_shows_the_slug_pattern_and_the_commands(manifest_doc: str) -> None:
    assert f"| `slug` | string, matching `{SLUG_PATTERN}` | yes |" in manifest_doc
    assert "mdb-engine validate manifest.json" in manifest_doc
    assert "mdb-engine schema > manifest.schema.json" in manifest_doc
    assert "`auth_required` → `auth.policy.required`" in manifest_doc


def test_manifest_reference_has_a_row_for_every_top_level_key(manifest_doc: str) -> None:
    schema = manifest_json_schema()

    for key in schema["properties"]:
        required = "yes" if key in schema["required"] else "no"
        row = rf"^\| `{re.escape(key)}` \| [^\n]* \| {required} \|"
        assert re.search(row, manifest_doc, re.M), key


def test_manifest_reference_has_a_section_for_every_object(manifest_doc: str) -> None:
    schema: dict[str, Any] = manifest_json_schema()

    assert {name.lower() for name in schema["$defs"]} | {"top-level"} <= anchors(manifest_doc)
    assert "| `auth.policy.provider` | one of: `casbin`, `oso`, `custom` | no |" in manifest_doc
    assert "| `cors.max_age` | integer ≥ 0 | no | `600` |" in manifest_doc


def api_section(api_doc: str, module: str) -> str:
    start = api_doc.index(f"## `{module}`\n")
    end = api_doc.find("\n## ", start + 1)
    return api_doc[start:end]


def test_api_lists_every_name_of_the_package(api_doc: str) -> None:
    section = api_section(api_doc, "mdb_engine")

    for name in mdb_engine.__all__:
        assert re.search(rf"^\| \[?`{re.escape(name)}`", section, re.M), name


@pytest.mark.parametrize(
    "module_name",
    [
        "mdb_engine.auth",
        "mdb_engine.database",
        "mdb_engine.errors",
        "mdb_engine.routing",
        "mdb_engine.testing",
        "mdb_runtime",
        "mdb_runtime.database",
    ],
)
def test_api_lists_every_name_of_each_public_module(api_doc: str, module_name: str) -> None:
    module = importlib.import_module(module_name)
    section = api_section(api_doc, module_name)

    for name in module.__all__:
        assert re.search(rf"^\| \[?`{re.escape(name)}`", section, re.M), name


def test_api_signatures_are_as_written_and_carry_no_addresses(api_doc: str) -> None:
    assert " at 0x" not in api_doc
    assert "mongo_uri: str | None = None," in api_doc  # the MongoDBEngine constructor
    assert "*async method* `find_one(" in api_doc


def test_exception_tree_is_rooted_at_mdb_engine_error(api_doc: str) -> None:
    tree = api_doc[api_doc.index("## Exception hierarchy") :]
    lines = [line for line in tree.splitlines() if line.lstrip().startswith("- ")]

    assert lines[0].startswith("- [`MDBEngineError`](#mdb_engine.MDBEngineError)")
    assert "  - [`ScopeViolation`](#mdb_engine.ScopeViolation) (also `PermissionError`)" in tree
    assert "    - [`IndexConflict`](#mdb_engine.IndexConflict)" in tree
    errors = importlib.import_module("mdb_engine.errors")
    for name in errors.__all__:
        error = getattr(errors, name)
        if isinstance(error, type) and issubclass(error, mdb_engine.MDBEngineError):
            assert f"[`{name}`]" in tree, name


def test_a_module_that_needs_a_missing_extra_is_named_not_fatal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_modules = importlib.import_module("_generate.api_modules")
    monkeypatch.setattr(api_modules, "public_module_names", lambda: ["mdb_engine._absent"])

    [module] = api_modules.module_docs()

    assert module.entries == []
    assert module.unavailable == "requires `mdb_engine._absent`, which is not installed"
    assert api_modules.required_extra(ImportError(name="oso")) == "requires extra `oso`"
    assert api_modules.required_extra(ImportError(name="numpy.linalg")) == "requires extra `ai`"
