"""Pure update rules: operator updates, pipeline updates, replacements and upserts."""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from bson import SON, encode
from bson.raw_bson import RawBSONDocument

from mdb_engine.database.rewrite_update import (
    UPDATE_PIPELINE_STAGES,
    rewrite_replacement,
    rewrite_update,
    rewrite_update_pipeline,
)
from mdb_engine.database.scope import scope_filter
from mdb_engine.errors import ScopeViolation

APP = "my_app"
FINAL_SET = {"$set": {"app_id": APP}}
MANAGED = "is managed by the engine and cannot be changed"

FUNCTION = {"body": "function() { return 1; }", "args": [], "lang": "js"}

# A value each operator accepts, so that the only thing wrong with an update is its path.
OPERATOR_VALUES: dict[str, Any] = {
    "$set": "value",
    "$unset": "",
    "$inc": 1,
    "$mul": 2,
    "$rename": "renamed",
    "$setOnInsert": "value",
    "$currentDate": True,
    "$min": 1,
    "$max": 1,
    "$push": 1,
    "$addToSet": 1,
    "$pull": 1,
    "$pop": 1,
    "$bit": {"and": 1},
    "$pullAll": [1],
}
APP_ID_PATHS = ["app_id", "app_id.x", "app_id.$[]", "app_id.$", "app_id.$[elem]", "app_id.0"]
NEIGHBOUR_PATHS = ["app_idx", "app_id_copy", "x.app_id", "x.app_id.y", "_app_id", "appid", "App_id"]


def test_update_pipeline_stages_are_the_servers() -> None:
    assert (
        frozenset({"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"})
        == UPDATE_PIPELINE_STAGES
    )


# -- operator form --------------------------------------------------------------------------


@pytest.mark.parametrize("path", APP_ID_PATHS)
@pytest.mark.parametrize("operator", sorted(OPERATOR_VALUES))
def test_an_operator_on_app_id_is_refused(operator: str, path: str) -> None:
    update = {operator: {path: OPERATOR_VALUES[operator]}}
    before = copy.deepcopy(update)
    with pytest.raises(ScopeViolation, match=re.escape(f"{operator} on {path!r} is refused")):
        rewrite_update(update, APP)
    assert update == before


@pytest.mark.parametrize("path", NEIGHBOUR_PATHS)
@pytest.mark.parametrize("operator", sorted(OPERATOR_VALUES))
def test_an_operator_on_a_neighbour_of_app_id_is_allowed(operator: str, path: str) -> None:
    update = {operator: {path: OPERATOR_VALUES[operator]}}
    before = copy.deepcopy(update)
    assert rewrite_update(update, APP) == before
    assert update == before


@pytest.mark.parametrize("target", APP_ID_PATHS)
def test_a_rename_onto_app_id_is_refused(target: str) -> None:
    with pytest.raises(
        ScopeViolation, match=re.escape(f"$rename of 'x' onto {target!r} is refused")
    ):
        rewrite_update({"$rename": {"x": target}}, APP)


@pytest.mark.parametrize("target", NEIGHBOUR_PATHS)
def test_a_rename_onto_a_neighbour_of_app_id_is_allowed(target: str) -> None:
    assert rewrite_update({"$rename": {"x": target}}, APP) == {"$rename": {"x": target}}


def test_the_refusal_says_why() -> None:
    with pytest.raises(
        ScopeViolation,
        match=re.escape("$unset on 'app_id' is refused: 'app_id' " + MANAGED),
    ):
        rewrite_update({"$unset": {"app_id": ""}}, APP)


def test_setting_app_id_to_the_apps_own_id_is_refused_too() -> None:
    with pytest.raises(ScopeViolation, match=MANAGED):
        rewrite_update({"$set": {"app_id": APP}}, APP)
    with pytest.raises(ScopeViolation, match=MANAGED):
        rewrite_update({"$setOnInsert": {"app_id": APP}}, APP)


@pytest.mark.parametrize(
    "update",
    [
        {"$set": {"x": 1}, "$unset": {"app_id": ""}},
        {"$inc": {"n": 1}, "$rename": {"a": "b", "c": "app_id"}},
        {"$set": {"x": 1, "y": 2, "app_id.z": 3}},
        SON([("$set", {"x": 1}), ("$currentDate", SON([("app_id", True)]))]),
    ],
)
def test_any_operator_of_a_multi_operator_update_is_checked(update: Any) -> None:
    with pytest.raises(ScopeViolation, match=MANAGED):
        rewrite_update(update, APP)


@pytest.mark.parametrize(
    "update",
    [
        {"$set": {"x": 1}},
        {"$set": {"x": 1, "y": {"app_id": "other"}}},
        {"$set": {"x": "app_id"}},
        {"$inc": {"n": 1}, "$push": {"tags": {"$each": ["a", "b"], "$slice": -5}}},
        {"$pull": {"items": {"app_id": "other"}}},
        {"$set": {"items.$[e].app_id": 1}},
        {"$set": {"x": 1}, "$setOnInsert": {"created": True}},
        {"$rename": {"app_idx": "y"}},
        {"$set": 5},
        {"$set": ["app_id"]},
        SON([("$set", SON([("x", 1)])), ("$inc", {"n": 1})]),
    ],
)
def test_an_operator_update_that_leaves_app_id_alone_is_sent_as_is(update: Any) -> None:
    before = copy.deepcopy(update)
    assert rewrite_update(update, APP) == before
    assert update == before


@pytest.mark.parametrize(
    ("update", "operator"),
    [
        ({"$set": {"x": {"$function": FUNCTION}}}, "$function"),
        ({"$set": {"x": {"y": [{"$where": "true"}]}}}, "$where"),
        ({"$pull": {"items": {"$where": "true"}}}, "$where"),
        ({"$inc": {"n": 1}, "$where": "true"}, "$where"),
        ({"$push": {"x": {"$accumulator": {}}}}, "$accumulator"),
    ],
)
def test_server_javascript_in_an_operator_update_is_refused(
    update: dict[str, Any], operator: str
) -> None:
    with pytest.raises(
        ScopeViolation, match=re.escape(f"{operator} is not allowed in a scoped update")
    ):
        rewrite_update(update, APP)


@pytest.mark.parametrize(
    ("update", "error"),
    [
        ({}, ValueError),
        ([], ValueError),
        ({"x": 1}, ValueError),
        ({"app_id": "other"}, ValueError),
        ("$set", TypeError),
        (None, TypeError),
        (5, TypeError),
        (({"$set": {"x": 1}},), TypeError),
    ],
)
def test_updates_pymongo_would_not_send_raise_its_own_errors(
    update: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        rewrite_update(update, APP)


# -- pipeline form --------------------------------------------------------------------------

ALLOWED_UPDATE_STAGES: list[dict[str, Any]] = [
    {"$addFields": {"x": 1}},
    {"$set": {"x": {"$add": ["$x", 1]}}},
    {"$set": {"copy": "$app_id"}},
    {"$set": {"app_idx": 1, "x.app_id": 2}},
    {"$project": {"x": 1}},
    {"$project": {"x": 0}},
    {"$unset": "x"},
    {"$unset": ["x", "y"]},
    {"$unset": "app_idx"},
    {"$unset": ["x.app_id", "app_id_copy"]},
    {"$replaceRoot": {"newRoot": "$sub"}},
    {"$replaceWith": "$sub"},
    {"$replaceWith": {"$mergeObjects": ["$$ROOT", {"x": 1}]}},
]


def test_every_update_pipeline_stage_has_an_allowed_example() -> None:
    assert {next(iter(stage)) for stage in ALLOWED_UPDATE_STAGES} == UPDATE_PIPELINE_STAGES


@pytest.mark.parametrize("stage", ALLOWED_UPDATE_STAGES)
def test_an_update_pipeline_stage_is_kept_and_app_id_set_last(stage: dict[str, Any]) -> None:
    before = copy.deepcopy(stage)
    assert rewrite_update([stage], APP) == [before, FINAL_SET]
    assert rewrite_update_pipeline([stage], APP) == [before, FINAL_SET]
    assert stage == before


def test_a_multi_stage_update_pipeline_keeps_its_order() -> None:
    pipeline = [
        {"$set": {"total": {"$sum": "$items.price"}}},
        {"$unset": ["items"]},
        {"$replaceWith": {"$mergeObjects": ["$$ROOT", {"done": True}]}},
        {"$project": {"total": 1, "done": 1}},
    ]
    before = copy.deepcopy(pipeline)
    assert rewrite_update(pipeline, APP) == [*before, FINAL_SET]
    assert pipeline == before


def test_the_final_set_restores_app_id_after_a_stage_that_drops_it() -> None:
    # An inclusion $project or a $replaceWith drops app_id; the final $set puts it back.
    assert rewrite_update([{"$project": {"x": 1}}], APP)[-1] == FINAL_SET
    assert rewrite_update([{"$replaceWith": {"x": 1}}], APP)[-1] == FINAL_SET


def test_the_final_set_names_the_app_of_the_call() -> None:
    assert rewrite_update([{"$set": {"x": 1}}], "other_app") == [
        {"$set": {"x": 1}},
        {"$set": {"app_id": "other_app"}},
    ]


def test_rewrite_update_pipeline_accepts_any_sequence() -> None:
    assert rewrite_update_pipeline(({"$set": {"x": 1}},), APP) == [{"$set": {"x": 1}}, FINAL_SET]
    assert rewrite_update_pipeline([], APP) == [FINAL_SET]


@pytest.mark.parametrize(
    "stage",
    [
        {"$match": {"x": 1}},
        {"$group": {"_id": "$x"}},
        {"$lookup": {"from": "a", "as": "b", "pipeline": []}},
        {"$out": "x"},
        {"$merge": "x"},
        {"$sort": {"x": 1}},
        {"$limit": 1},
        {"$skip": 1},
        {"$unwind": "$x"},
        {"$facet": {"a": []}},
        {"$unionWith": "x"},
        {"$geoNear": {"near": [0, 0]}},
        {"$search": {}},
        {"$currentOp": {}},
        {"$bogus": {}},
        {"set": {"x": 1}},
        {"$SET": {"x": 1}},
    ],
)
def test_other_stages_are_refused_in_an_update_pipeline(stage: dict[str, Any]) -> None:
    name = next(iter(stage))
    message = f"{name!r} is not allowed in an update pipeline (allowed: "
    with pytest.raises(ScopeViolation, match=re.escape(message)):
        rewrite_update([{"$set": {"x": 1}}, stage], APP)


@pytest.mark.parametrize(
    "stage",
    [
        {"$set": {"x": 1}, "$unset": "y"},
        {"$set": {"x": 1}, "$project": {"x": 1}},
        {},
        "$set",
        None,
        [("$set", {"x": 1})],
        [{"$set": {"x": 1}}],
    ],
)
def test_a_malformed_update_pipeline_stage_is_refused(stage: Any) -> None:
    message = "update pipeline stage {} must be a document with exactly one stage name"
    with pytest.raises(ScopeViolation, match=re.escape(message.format(0))):
        rewrite_update([stage], APP)
    with pytest.raises(ScopeViolation, match=re.escape(message.format(1))):
        rewrite_update_pipeline([{"$set": {"x": 1}}, stage], APP)


@pytest.mark.parametrize(
    ("stage", "named"),
    [
        ({"$set": {"app_id": "other"}}, "app_id"),
        ({"$set": {"app_id": APP}}, "app_id"),
        ({"$set": {"x": 1, "app_id.y": 2}}, "app_id.y"),
        ({"$addFields": {"app_id": "$other"}}, "app_id"),
        ({"$addFields": {"app_id.$[]": 1}}, "app_id.$[]"),
        ({"$unset": "app_id"}, "app_id"),
        ({"$unset": "app_id.x"}, "app_id.x"),
        ({"$unset": ["x", "app_id"]}, "app_id"),
        ({"$unset": ["x", "app_id.y", "app_id"]}, "app_id.y"),
    ],
)
def test_an_update_pipeline_naming_app_id_is_refused(stage: dict[str, Any], named: str) -> None:
    name = next(iter(stage))
    message = f"{name} of {named!r} in an update pipeline is refused: 'app_id' {MANAGED}"
    with pytest.raises(ScopeViolation, match=re.escape(message)):
        rewrite_update([{"$set": {"x": 1}}, stage], APP)


@pytest.mark.parametrize(
    ("stage", "operator"),
    [
        ({"$set": {"x": {"$function": FUNCTION}}}, "$function"),
        ({"$addFields": {"x": {"$cond": [{"$function": FUNCTION}, 1, 2]}}}, "$function"),
        ({"$replaceWith": {"$function": FUNCTION}}, "$function"),
        ({"$project": {"x": {"$accumulator": {}}}}, "$accumulator"),
        ({"$replaceRoot": {"newRoot": {"a": [{"$where": "true"}]}}}, "$where"),
    ],
)
def test_server_javascript_in_an_update_pipeline_is_refused(
    stage: dict[str, Any], operator: str
) -> None:
    with pytest.raises(
        ScopeViolation, match=re.escape(f"{operator} is not allowed in a scoped update")
    ):
        rewrite_update([stage], APP)


def test_an_update_pipeline_is_returned_as_a_new_list() -> None:
    pipeline = [{"$set": {"x": 1}}]
    rewritten = rewrite_update(pipeline, APP)
    assert rewritten is not pipeline
    assert pipeline == [{"$set": {"x": 1}}]


# -- replacements ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replacement", "expected"),
    [
        ({}, {"app_id": APP}),
        ({"x": 1}, {"x": 1, "app_id": APP}),
        ({"_id": 1, "x": {"y": 2}}, {"_id": 1, "x": {"y": 2}, "app_id": APP}),
        ({"x": 1, "app_id": APP}, {"x": 1, "app_id": APP}),
        ({"app_idx": "other", "x.app_id": 2}, {"app_idx": "other", "x.app_id": 2, "app_id": APP}),
        (SON([("b", 1), ("a", 2)]), {"b": 1, "a": 2, "app_id": APP}),
        (RawBSONDocument(encode({"x": 1})), {"x": 1, "app_id": APP}),
    ],
)
def test_a_replacement_carries_app_id(replacement: Any, expected: dict[str, Any]) -> None:
    assert rewrite_replacement(replacement, APP) == expected


def test_a_replacement_is_a_copy() -> None:
    replacement = {"x": 1}
    rewritten = rewrite_replacement(replacement, APP)
    assert rewritten is not replacement
    assert replacement == {"x": 1}


@pytest.mark.parametrize("foreign", ["other_app", None, 1, {"$ne": APP}, ""])
def test_a_replacement_of_another_app_is_refused(foreign: Any) -> None:
    replacement = {"x": 1, "app_id": foreign}
    with pytest.raises(ScopeViolation, match=re.escape(f"app_id={foreign!r}")):
        rewrite_replacement(replacement, APP)
    assert replacement == {"x": 1, "app_id": foreign}


@pytest.mark.parametrize(
    ("replacement", "error"),
    [
        ({"$set": {"x": 1}}, ValueError),
        ([{"x": 1}], TypeError),
        ("x", TypeError),
        (None, TypeError),
    ],
)
def test_replacements_pymongo_would_not_send_raise_its_own_errors(
    replacement: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        rewrite_replacement(replacement, APP)


# -- upserts --------------------------------------------------------------------------------


def _upsert_equalities(filter: dict[str, Any]) -> dict[str, Any]:
    """The top-level equalities MongoDB copies into an upserted document (simplified)."""
    conjuncts = filter["$and"] if list(filter) == ["$and"] else [filter]
    seeded: dict[str, Any] = {}
    for conjunct in conjuncts:
        for key, value in conjunct.items():
            if not key.startswith("$") and not (isinstance(value, dict) and value):
                seeded[key] = value
    return seeded


@pytest.mark.parametrize(
    ("user_filter", "seeded"),
    [
        (None, {"app_id": APP}),
        ({}, {"app_id": APP}),
        ({"x": 1}, {"x": 1, "app_id": APP}),
        ({"x": 1, "y": {"$gt": 2}}, {"x": 1, "app_id": APP}),
        ({"app_id": APP}, {"app_id": APP}),
        ({"app_id": APP, "x": 1}, {"x": 1, "app_id": APP}),
        # The server refuses an upsert whose filter constrains app_id twice ("path 'app_id' is
        # matched twice"), though raw PyMongo upserts {"app_id": {"$eq": S}} fine.
        ({"app_id": {"$eq": APP}}, {"app_id": APP}),
    ],
)
def test_an_upsert_filter_carries_the_app_id_equality(
    user_filter: dict[str, Any] | None, seeded: dict[str, Any]
) -> None:
    scoped = scope_filter(user_filter, APP)
    assert _upsert_equalities(scoped) == seeded
    # app_id is constrained exactly once, so the server can copy it into the new document.
    assert str(scoped).count("'app_id'") == 1


@pytest.mark.parametrize(
    "update",
    [
        {"$setOnInsert": {"app_id": "other"}},
        {"$set": {"x": 1}, "$setOnInsert": {"app_id": APP}},
        [{"$set": {"app_id": "other"}}],
    ],
)
def test_an_upsert_cannot_choose_its_own_app_id(update: Any) -> None:
    with pytest.raises(ScopeViolation, match=MANAGED):
        rewrite_update(update, APP)


def test_a_pipeline_upsert_writes_app_id_whatever_the_pipeline_does() -> None:
    assert rewrite_update([{"$replaceWith": {"x": 1}}], APP) == [
        {"$replaceWith": {"x": 1}},
        FINAL_SET,
    ]


# -- no mutation ----------------------------------------------------------------------------

NON_MUTATION_INPUTS: list[Any] = [
    {"$set": {"x": 1, "nested": {"a": [1, 2]}}},
    {"$set": {"app_id": "other"}},
    {"$rename": {"x": "app_id"}},
    {"$set": {"x": {"$function": FUNCTION}}},
    SON([("$inc", SON([("n", 1)]))]),
    [{"$set": {"x": {"$add": [1, 2]}}}, {"$unset": ["y"]}],
    [{"$set": {"app_id": "other"}}],
    [{"$match": {"x": 1}}],
    [{"$set": {"x": 1}, "$unset": "y"}],
    [{"$replaceWith": {"$function": FUNCTION}}],
    {"x": 1, "app_id": APP},
    {"x": [1, {"y": 2}], "app_id": "other"},
    {"$set": {"x": 1}},
    {},
    [],
]
FUNCTIONS: list[Callable[[Any], Any]] = [
    lambda value: rewrite_update(value, APP),
    lambda value: rewrite_update_pipeline(value, APP),
    lambda value: rewrite_replacement(value, APP),
]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("value", NON_MUTATION_INPUTS)
def test_inputs_are_never_mutated(value: Any, function: Callable[[Any], Any]) -> None:
    before = copy.deepcopy(value)
    with contextlib.suppress(ScopeViolation, TypeError, ValueError, AttributeError):
        function(value)
    assert value == before
    assert type(value) is type(before)
