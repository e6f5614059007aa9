"""Pure rules for find_one by _id alone: which filters qualify, which projection to send."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import re
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import bson
import pytest
from bson import SON, Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.raw_bson import RawBSONDocument

from mdb_engine.database.fast_path import (
    IdLookupProjection,
    is_id_lookup,
    plan_id_lookup_projection,
)

APP = "my_app"

# -- is_id_lookup ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        ObjectId("0123456789ab0123456789ab"),
        "abc",
        "",
        "$not_an_operator",
        0,
        5,
        -1,
        2**62,
        1.5,
        Int64(5),
        Decimal128("1.5"),
        Binary(b"\x00\x01", 0),
        b"raw",
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        datetime.datetime(2024, 1, 2),
    ],
)
def test_an_exact_id_is_a_lookup(value: Any) -> None:
    assert is_id_lookup({"_id": value}) is True


@pytest.mark.parametrize("value", [ObjectId("0123456789ab0123456789ab"), "abc", 5])
def test_only_a_plain_dict_takes_the_fast_path(value: Any) -> None:
    # A dict subclass or a RawBSONDocument could encode differently from what Python sees.
    assert is_id_lookup(SON([("_id", value)])) is False
    assert is_id_lookup(OrderedDict(_id=value)) is False
    assert is_id_lookup(RawBSONDocument(bson.encode({"_id": value}))) is False


def test_subclasses_of_id_types_are_not_exact() -> None:
    assert is_id_lookup({"_id": Code("not run, only compared")}) is False


@pytest.mark.parametrize(
    "value",
    [
        {"$eq": 1},
        {"$in": [1, 2]},
        {"$gt": 1},
        {"$ne": 1},
        {"$exists": True},
        {"a": 1},
        {},
        re.compile("abc"),
        Regex("abc"),
        [1],
        [],
        (1,),
        {1, 2},
        True,
        False,
        None,
        datetime.date(2024, 1, 2),
        Timestamp(1, 1),
        MinKey(),
        MaxKey(),
    ],
)
def test_an_id_that_is_not_an_exact_value_is_not_a_lookup(value: Any) -> None:
    assert is_id_lookup({"_id": value}) is False


@pytest.mark.parametrize(
    "filter",
    [
        {},
        {"x": 1},
        {"_id": 1, "x": 2},
        {"_id": 1, "app_id": APP},
        {"app_id": APP},
        {"$and": [{"_id": 1}]},
        {"_id ": 1},
        {"id": 1},
        None,
        "abc",
        1,
        ObjectId("0123456789ab0123456789ab"),
        [("_id", 1)],
        [{"_id": 1}],
    ],
)
def test_other_filters_are_not_lookups(filter: Any) -> None:
    assert is_id_lookup(filter) is False


# -- plan_id_lookup_projection: exact plans -------------------------------------------------


@pytest.mark.parametrize(
    ("projection", "expected"),
    [
        (None, IdLookupProjection(None, strip_app_id=False)),
        ({}, IdLookupProjection(None, strip_app_id=False)),
        # inclusion: app_id is added, then stripped
        ({"x": 1}, IdLookupProjection({"x": 1, "app_id": 1}, strip_app_id=True)),
        ({"x": True}, IdLookupProjection({"x": True, "app_id": 1}, strip_app_id=True)),
        ({"x": Int64(1)}, IdLookupProjection({"x": Int64(1), "app_id": 1}, strip_app_id=True)),
        ({"x": 1, "y.z": 1}, IdLookupProjection({"x": 1, "y.z": 1, "app_id": 1}, True)),
        ({"x": 1, "_id": 0}, IdLookupProjection({"x": 1, "_id": 0, "app_id": 1}, True)),
        ({"x": 1, "_id": 1}, IdLookupProjection({"x": 1, "_id": 1, "app_id": 1}, True)),
        ({"_id": 1}, IdLookupProjection({"_id": 1, "app_id": 1}, strip_app_id=True)),
        ({"_id": True}, IdLookupProjection({"_id": True, "app_id": 1}, strip_app_id=True)),
        # exclusion: app_id is kept anyway, nothing to strip
        ({"_id": 0}, IdLookupProjection({"_id": 0}, strip_app_id=False)),
        ({"_id": False}, IdLookupProjection({"_id": False}, strip_app_id=False)),
        ({"x": 0}, IdLookupProjection({"x": 0}, strip_app_id=False)),
        ({"x": 0, "_id": 0}, IdLookupProjection({"x": 0, "_id": 0}, strip_app_id=False)),
        ({"x": 0, "_id": 1}, IdLookupProjection({"x": 0, "_id": 1}, strip_app_id=False)),
        ({"x.y": 0}, IdLookupProjection({"x.y": 0}, strip_app_id=False)),
        # app_id asked for: sent as is
        ({"app_id": 1}, IdLookupProjection({"app_id": 1}, strip_app_id=False)),
        ({"app_id": True}, IdLookupProjection({"app_id": True}, strip_app_id=False)),
        ({"app_id": 1, "_id": 0}, IdLookupProjection({"app_id": 1, "_id": 0}, False)),
        ({"app_id": 1, "x": 1}, IdLookupProjection({"app_id": 1, "x": 1}, False)),
        # app_id excluded: the exclusion is dropped and app_id stripped afterwards
        ({"app_id": 0}, IdLookupProjection(None, strip_app_id=True)),
        ({"app_id": False}, IdLookupProjection(None, strip_app_id=True)),
        ({"app_id": 0, "_id": 1}, IdLookupProjection(None, strip_app_id=True)),
        ({"app_id": 0, "_id": 0}, IdLookupProjection({"_id": 0}, strip_app_id=True)),
        ({"app_id": 0, "x": 0}, IdLookupProjection({"x": 0}, strip_app_id=True)),
        ({"app_id": 0, "x": 0, "_id": 1}, IdLookupProjection({"x": 0, "_id": 1}, True)),
        # list form, as PyMongo reads it: every name included
        (["x"], IdLookupProjection({"x": 1, "app_id": 1}, strip_app_id=True)),
        (["x", "y"], IdLookupProjection({"x": 1, "y": 1, "app_id": 1}, strip_app_id=True)),
        (("x",), IdLookupProjection({"x": 1, "app_id": 1}, strip_app_id=True)),
        (["_id"], IdLookupProjection({"_id": 1, "app_id": 1}, strip_app_id=True)),
        (["app_id"], IdLookupProjection({"app_id": 1}, strip_app_id=False)),
        (["x", "app_id"], IdLookupProjection({"x": 1, "app_id": 1}, strip_app_id=False)),
        (SON([("x", 1)]), IdLookupProjection({"x": 1, "app_id": 1}, strip_app_id=True)),
    ],
)
def test_the_planned_projection(projection: Any, expected: IdLookupProjection) -> None:
    assert plan_id_lookup_projection(projection) == expected


@pytest.mark.parametrize(
    "projection",
    [
        [],
        (),
        ["x", 1],
        [None],
        "x",
        b"x",
        5,
        {"x": {"$slice": 2}},
        {"x": {"$slice": [1, 2]}, "y": 1},
        {"x": {"$elemMatch": {"a": 1}}},
        {"score": {"$meta": "textScore"}},
        {"x": "$y"},
        {"x": 2},
        {"x": -1},
        {"x": 1.0},
        {"x": 0.0},
        {"x": None},
        {"app_id.x": 1},
        {"app_id.x": 0},
        {"app_id.$": 1},
        {"x": 1, "app_id.y": 1},
        ["app_id.x"],
        ["x", "app_id.y"],
    ],
)
def test_projections_the_fast_path_cannot_plan(projection: Any) -> None:
    assert plan_id_lookup_projection(projection) is None


def test_a_plan_is_frozen() -> None:
    plan = plan_id_lookup_projection({"x": 1})
    assert plan is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.strip_app_id = False  # type: ignore[misc]


def test_a_plan_does_not_share_the_callers_projection() -> None:
    projection = {"app_id": 1, "x": 1}
    plan = plan_id_lookup_projection(projection)
    assert plan is not None
    assert plan.projection is not projection


# -- plan_id_lookup_projection: what the server would return --------------------------------


class InvalidProjection(Exception):
    """What the server answers to a projection that mixes inclusion and exclusion."""


def _project(document: dict[str, Any], projection: Any) -> dict[str, Any]:
    """MongoDB's find projection of 0/1 values on (possibly dotted) paths, in miniature."""
    if projection is None:
        return copy.deepcopy(document)
    if not isinstance(projection, dict):
        projection = dict.fromkeys(projection, 1)  # PyMongo's list form
    if not projection:
        return copy.deepcopy(document)
    others = {path: bool(value) for path, value in projection.items() if path != "_id"}
    if len(set(others.values())) > 1:
        raise InvalidProjection(projection)
    inclusion = next(iter(others.values())) if others else bool(projection["_id"])
    keep_id = bool(projection.get("_id", True))
    if inclusion:
        result: dict[str, Any] = {}
        if keep_id and "_id" in document:
            result["_id"] = document["_id"]
        for path in others:
            _copy_path(document, result, path.split("."))
        return result
    result = copy.deepcopy(document)
    if not keep_id:
        result.pop("_id", None)
    for path in others:
        _drop_path(result, path.split("."))
    return result


def _copy_path(source: dict[str, Any], target: dict[str, Any], parts: list[str]) -> None:
    head, *rest = parts
    if head not in source:
        return
    if not rest:
        target[head] = copy.deepcopy(source[head])
    elif isinstance(source[head], dict):
        _copy_path(source[head], target.setdefault(head, {}), rest)


def _drop_path(target: dict[str, Any], parts: list[str]) -> None:
    head, *rest = parts
    if not rest:
        target.pop(head, None)
    elif isinstance(target.get(head), dict):
        _drop_path(target[head], rest)


DOCUMENTS: list[dict[str, Any]] = [
    {"_id": 1, "app_id": APP, "x": 1, "y": {"a": 1, "b": 2}, "z": [1, 2]},
    {"_id": "k", "app_id": APP},
    {"app_id": APP, "_id": ObjectId("0123456789ab0123456789ab"), "y": {"a": {"deep": True}}},
]

VALID_PROJECTIONS: list[Any] = [
    None,
    {},
    {"_id": 1},
    {"_id": 0},
    {"_id": True},
    {"_id": False},
    {"x": 1},
    {"x": True},
    {"x": 1, "_id": 0},
    {"x": 1, "_id": 1},
    {"x": 0},
    {"x": 0, "_id": 0},
    {"x": 0, "_id": 1},
    {"y.a": 1},
    {"y.a": 0},
    {"y.a": 1, "z": 1, "_id": 0},
    {"missing": 1},
    {"missing": 0},
    {"app_id": 1},
    {"app_id": True},
    {"app_id": 1, "_id": 0},
    {"app_id": 1, "x": 1},
    {"app_id": 0},
    {"app_id": False},
    {"app_id": 0, "_id": 1},
    {"app_id": 0, "_id": 0},
    {"app_id": 0, "x": 0},
    {"app_id": 0, "x": 0, "_id": 1},
    {"app_id": 0, "y.a": 0, "_id": 0},
    ["x"],
    ["x", "y"],
    ["_id"],
    ["app_id"],
    ("y.b", "z"),
]


def _cases(projections: list[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    for projection in projections:
        for document in DOCUMENTS:
            yield projection, document


@pytest.mark.parametrize(("projection", "document"), list(_cases(VALID_PROJECTIONS)))
def test_the_plan_returns_app_id_and_strips_to_what_the_user_asked_for(
    projection: Any, document: dict[str, Any]
) -> None:
    plan = plan_id_lookup_projection(projection)
    assert plan is not None
    sent = _project(document, plan.projection)
    # app_id is always there for the fail-closed check ...
    assert sent["app_id"] == APP
    # ... the sent projection returns a superset of what the user asked for ...
    wanted = _project(document, projection)
    assert {key: sent[key] for key in wanted} == wanted
    # ... and stripping (when planned) gives exactly what the user's projection returns.
    if plan.strip_app_id:
        del sent["app_id"]
    assert sent == wanted


MIXED_PROJECTIONS: list[dict[str, Any]] = [
    {"x": 1, "y": 0},
    {"x": 0, "y": 1},
    {"app_id": 1, "x": 0},
    {"app_id": 0, "x": 1},
    {"app_id": 0, "x": 1, "_id": 0},
    {"app_id": False, "y.a": True},
]


@pytest.mark.parametrize("projection", MIXED_PROJECTIONS, ids=str)
def test_a_projection_the_server_refuses_is_still_refused(projection: dict[str, Any]) -> None:
    document = DOCUMENTS[0]
    with pytest.raises(InvalidProjection):
        _project(document, projection)
    plan = plan_id_lookup_projection(projection)
    # Either the scoped query sends the user's projection, or the planned one fails alike:
    # never a valid projection that turns the server's error into "not found".
    if plan is not None:
        with pytest.raises(InvalidProjection):
            _project(document, plan.projection)


# -- no mutation ----------------------------------------------------------------------------

NON_MUTATION_INPUTS: list[Any] = [
    *VALID_PROJECTIONS,
    *MIXED_PROJECTIONS,
    {"x": {"$slice": 2}},
    {"app_id.x": 1},
    SON([("app_id", 0), ("_id", 1)]),
    OrderedDict([("x", 1)]),
    [],
    ["x", 1],
]


@pytest.mark.parametrize("value", NON_MUTATION_INPUTS)
def test_inputs_are_never_mutated(value: Any) -> None:
    before = copy.deepcopy(value)
    plan_id_lookup_projection(value)
    is_id_lookup(value)
    is_id_lookup({"_id": value} if not isinstance(value, (dict, list)) else value)
    assert value == before
    assert type(value) is type(before)
