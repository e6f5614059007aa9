"""Pure create_collection rules: declared options, the call's overrides, validators."""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import pytest
from bson import SON

from mdb_engine.database.create_options import creation_options, validator_allowing_app_id

APP_ID_PROPERTY = {"bsonType": "string"}


def strict_schema(**properties: Any) -> dict[str, Any]:
    return {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["title"],
            "properties": properties,
            "additionalProperties": False,
        }
    }


# -- validator_allowing_app_id --------------------------------------------------------------


def test_a_strict_schema_gets_app_id_allowed() -> None:
    validator = strict_schema(_id={}, title={"bsonType": "string"})
    assert validator_allowing_app_id(validator) == {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["title"],
            "properties": {
                "_id": {},
                "title": {"bsonType": "string"},
                "app_id": APP_ID_PROPERTY,
            },
            "additionalProperties": False,
        }
    }


@pytest.mark.parametrize("properties", ["missing", None, {}])
def test_a_strict_schema_without_properties_gets_app_id_allowed(properties: Any) -> None:
    schema: dict[str, Any] = {"bsonType": "object", "additionalProperties": False}
    if properties != "missing":
        schema["properties"] = properties
    assert validator_allowing_app_id({"$jsonSchema": schema}) == {
        "$jsonSchema": {**schema, "properties": {"app_id": APP_ID_PROPERTY}}
    }


def test_the_rest_of_the_validator_is_kept() -> None:
    validator = {**strict_schema(title={}), "status": {"$in": ["open", "done"]}}
    assert validator_allowing_app_id(validator) == {
        "$jsonSchema": {
            **validator["$jsonSchema"],
            "properties": {"title": {}, "app_id": APP_ID_PROPERTY},
        },
        "status": {"$in": ["open", "done"]},
    }


@pytest.mark.parametrize(
    "validator",
    [
        {},
        {"status": {"$in": ["open", "done"]}},
        {"$jsonSchema": {"bsonType": "object", "properties": {"title": {}}}},
        {"$jsonSchema": {"properties": {"title": {}}, "additionalProperties": True}},
        {"$jsonSchema": {"properties": {}, "additionalProperties": {"bsonType": "string"}}},
        {"$jsonSchema": {"additionalProperties": False, "properties": {"app_id": {}}}},
        {
            "$jsonSchema": {
                "additionalProperties": False,
                "properties": {"app_id": {"bsonType": "string", "enum": ["my_app"]}},
            }
        },
        {"$jsonSchema": "not a schema"},
        {"$jsonSchema": None},
    ],
)
def test_a_validator_that_already_allows_app_id_is_unchanged(validator: dict[str, Any]) -> None:
    before = copy.deepcopy(validator)
    assert validator_allowing_app_id(validator) == before
    assert validator == before


@pytest.mark.parametrize(
    "validator",
    [
        SON([("$jsonSchema", SON([("additionalProperties", False), ("properties", SON())]))]),
        MappingProxyType(
            {"$jsonSchema": MappingProxyType({"additionalProperties": False, "properties": {}})}
        ),
    ],
)
def test_mapping_validators_are_read(validator: Any) -> None:
    assert validator_allowing_app_id(validator) == {
        "$jsonSchema": {"additionalProperties": False, "properties": {"app_id": APP_ID_PROPERTY}}
    }


# -- creation_options -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "overrides", "expected"),
    [
        (None, {}, {}),
        ({}, {}, {}),
        ({"capped": True, "size": 4096}, {}, {"capped": True, "size": 4096}),
        (None, {"capped": True, "size": 4096}, {"capped": True, "size": 4096}),
        ({"capped": True, "size": 4096}, {"size": 8192}, {"capped": True, "size": 8192}),
        ({"capped": True}, {"max": 10}, {"capped": True, "max": 10}),
        (
            {"timeseries": {"timeField": "t"}},
            {"expireAfterSeconds": 60},
            {"timeseries": {"timeField": "t"}, "expireAfterSeconds": 60},
        ),
        ({"validationLevel": "strict"}, {"validationLevel": "off"}, {"validationLevel": "off"}),
    ],
)
def test_the_calls_options_override_the_declared_ones(
    declared: dict[str, Any] | None, overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert creation_options(declared, overrides) == expected


def test_a_declared_validator_allows_app_id() -> None:
    declared = {"validator": strict_schema(title={}), "validationAction": "error"}
    assert creation_options(declared, {}) == {
        "validator": {
            "$jsonSchema": {
                **declared["validator"]["$jsonSchema"],
                "properties": {"title": {}, "app_id": APP_ID_PROPERTY},
            }
        },
        "validationAction": "error",
    }


def test_an_overriding_validator_allows_app_id_and_replaces_the_declared_one() -> None:
    declared = {"validator": strict_schema(old={}), "capped": False}
    overrides = {"validator": strict_schema(new={})}
    assert creation_options(declared, overrides) == {
        "validator": {
            "$jsonSchema": {
                **overrides["validator"]["$jsonSchema"],
                "properties": {"new": {}, "app_id": APP_ID_PROPERTY},
            }
        },
        "capped": False,
    }


@pytest.mark.parametrize("validator", [None, "x", 1, [strict_schema()]])
def test_a_validator_that_is_not_a_document_is_left_to_the_server(validator: Any) -> None:
    assert creation_options({"validator": validator}, {}) == {"validator": validator}


def test_a_query_validator_is_unchanged() -> None:
    declared = {"validator": {"$and": [{"x": {"$type": "int"}}]}}
    assert creation_options(declared, {}) == declared


def test_creation_options_is_a_new_dict() -> None:
    declared = {"capped": True}
    overrides = {"size": 1}
    options = creation_options(declared, overrides)
    assert options is not declared
    assert options is not overrides
    options["max"] = 3
    assert declared == {"capped": True}
    assert overrides == {"size": 1}


# -- no mutation ----------------------------------------------------------------------------

DECLARED: list[Any] = [
    None,
    {},
    {"capped": True, "size": 1},
    {"validator": strict_schema(title={"bsonType": "string"})},
    {"validator": {"$jsonSchema": {"additionalProperties": False}}},
    {"validator": {"x": {"$gt": 1}}},
    {"validator": "x"},
]
OVERRIDES: list[Any] = [
    {},
    {"size": 2},
    {"validator": strict_schema()},
    {"validator": {"$jsonSchema": {"additionalProperties": False, "properties": None}}},
]


@pytest.mark.parametrize("overrides", OVERRIDES)
@pytest.mark.parametrize("declared", DECLARED)
def test_inputs_are_never_mutated(declared: Any, overrides: dict[str, Any]) -> None:
    before = copy.deepcopy((declared, overrides))
    creation_options(declared, overrides)
    for options in (declared, overrides):
        if isinstance(options, dict) and isinstance(options.get("validator"), dict):
            validator_allowing_app_id(options["validator"])
    assert (declared, overrides) == before
