"""The JSON Schema shipped for editors matches the models."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from mdb_engine.core.manifest import AppManifest, manifest_json_schema
from mdb_engine.core.manifest.__main__ import main, render_schema
from mdb_engine.database.names import collection_name_problem


def shipped_schema() -> Any:
    text = resources.files("mdb_engine.core.manifest").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)


def test_shipped_schema_file_equals_the_generated_schema() -> None:
    # If this fails, regenerate it: python -m mdb_engine.core.manifest --write
    assert shipped_schema() == manifest_json_schema()


def test_shipped_schema_file_is_byte_for_byte_what_the_generator_writes() -> None:
    text = resources.files("mdb_engine.core.manifest").joinpath("schema.json").read_text("utf-8")

    assert text == render_schema()


def test_schema_header() -> None:
    schema = manifest_json_schema()

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:mdb-engine:manifest:2.0"
    assert schema["title"] == "mdb-engine app manifest (schema 2.0)"
    assert schema["description"] == AppManifest.__doc__
    assert schema["required"] == ["slug", "name"]
    assert schema["properties"]["slug"]["pattern"] == r"^[a-z][a-z0-9_-]{1,62}$"
    assert schema["properties"]["schema_version"] == {
        "const": "2.0",
        "default": "2.0",
        "description": 'Always "2.0"; a manifest without it is read as schema 1.0 and migrated, '
        "with a DeprecationWarning.",
        "title": "Schema Version",
        "type": "string",
    }


def test_schema_offers_editors_an_optional_string_schema_key() -> None:
    schema = manifest_json_schema()
    schema_key = schema["properties"]["$schema"]

    assert next(iter(schema["properties"])) == "$schema"
    assert "$schema" not in schema["required"]
    assert schema_key["type"] == "string"
    assert "default" not in schema_key
    assert "anyOf" not in schema_key
    assert "editors" in schema_key["description"]


def _object_schemas(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            found.extend(_object_schemas(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_object_schemas(value))
    return found


def test_every_model_forbids_unknown_keys_and_is_described() -> None:
    schema = manifest_json_schema()
    models = _object_schemas(schema)

    assert len(models) == len(schema["$defs"]) + 1
    for model in models:
        assert model["additionalProperties"] is False
        assert model["description"]


def _description(schema: dict[str, Any], node: dict[str, Any]) -> str | None:
    """A property's description, else that of the object it refers to (as the reference does)."""
    if "description" in node:
        return str(node["description"])
    for variant in node.get("anyOf", []):
        found = _description(schema, variant)
        if found:
            return found
    if "$ref" in node:
        return _description(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[-1]])
    return None


def test_every_field_is_described() -> None:
    schema = manifest_json_schema()

    undescribed = [
        f"{model.get('title')}.{name}"
        for model in _object_schemas(schema)
        for name, prop in model["properties"].items()
        if not _description(schema, prop)
    ]
    assert undescribed == []


@pytest.mark.parametrize(
    ("name", "is_valid"),
    [
        ("tasks", True),
        ("fs.files", True),
        ("Tasks-2", True),
        ("_private", False),
        ("_mdb_engine_apps", False),
        ("system.users", False),
        ("a$b", False),
        ("a..b", False),
        ("trailing.", False),
        ("tаsks", False),  # Cyrillic 'а'
    ],
)
def test_collection_names_are_constrained_in_the_schema(name: str, is_valid: bool) -> None:
    """The schema's patterns accept exactly what the sandbox's name rule accepts."""
    rule = manifest_json_schema()["properties"]["managed_indexes"]["propertyNames"]
    matches = re.search(rule["allOf"][0]["pattern"], name) is not None
    forbidden = re.search(rule["not"]["pattern"], name) is not None
    assert (matches and not forbidden) is is_valid
    assert (collection_name_problem(name) is None) is is_valid


def test_schema_is_a_fresh_copy_each_time() -> None:
    schema = manifest_json_schema()
    schema["title"] = "changed"

    assert manifest_json_schema()["title"] != "changed"


def test_main_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0

    assert json.loads(capsys.readouterr().out) == manifest_json_schema()


def test_main_writes_the_schema_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "schema.json"
    monkeypatch.setattr("mdb_engine.core.manifest.__main__.SCHEMA_FILE", target)

    assert main(["--write"]) == 0

    assert json.loads(target.read_text("utf-8")) == manifest_json_schema()
