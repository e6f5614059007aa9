"""Pure scope rules: read filters, tagged documents, the app_id path, server-side JavaScript."""

from __future__ import annotations

import contextlib
import copy
import re
from collections import OrderedDict
from types import MappingProxyType
from typing import Any

import pytest
from bson import SON, Code, ObjectId

from mdb_engine.database.scope import (
    APP_ID_FIELD,
    check_no_server_javascript,
    is_app_id_path,
    scope_filter,
    tag_document,
)
from mdb_engine.errors import MDBEngineError, ScopeViolation

APP = "my_app"
SCOPE = {"app_id": APP}

FUNCTION = {"body": "function() { return true; }", "args": [], "lang": "js"}
ACCUMULATOR = {
    "init": "function() { return 0; }",
    "accumulate": "function(s) { return s; }",
    "accumulateArgs": [],
    "merge": "function(a, b) { return a; }",
    "lang": "js",
}


def test_app_id_field_is_app_id() -> None:
    assert APP_ID_FIELD == "app_id"


def test_scope_violation_is_a_permission_error_of_the_engine() -> None:
    assert issubclass(ScopeViolation, MDBEngineError)
    assert issubclass(ScopeViolation, PermissionError)


# -- is_app_id_path -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["app_id", "app_id.x", "app_id.$[]", "app_id.$", "app_id.$[elem]", "app_id.0", "app_id.a.b"],
)
def test_app_id_paths(path: str) -> None:
    assert is_app_id_path(path) is True


@pytest.mark.parametrize(
    "path",
    [
        "app_idx",
        "app_id_copy",
        "x.app_id",
        "x.app_id.y",
        "_app_id",
        "App_id",
        "APP_ID",
        "appid",
        "app",
        "app_",
        " app_id",
        "app_id ",
        "app_id$",
        "",
        None,
        1,
        b"app_id",
        ["app_id"],
        ("app_id",),
    ],
)
def test_paths_that_are_not_app_id(path: object) -> None:
    assert is_app_id_path(path) is False


# -- scope_filter ---------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, {}, SON(), OrderedDict(), MappingProxyType({})])
def test_an_empty_filter_is_just_the_scope(empty: Any) -> None:
    assert scope_filter(empty, APP) == {"app_id": APP}


@pytest.mark.parametrize(
    "user_filter",
    [
        {"x": 1},
        {"x": 1, "y": {"$gt": 2}},
        {"_id": ObjectId("0123456789ab0123456789ab")},
        {"app_id": "other_app"},
        {"app_id": "other_app", "x": 1},
        {"app_id": {"$ne": APP}},
        {"app_id": {"$eq": "other_app"}},
        {"$or": [{"app_id": "other_app"}, {"x": 1}]},
        {"$and": [{"x": 1}], "y": 2},
        {"$nor": [{"x": 1}]},
        {"$expr": {"$eq": ["$x", "$y"]}},
        {"x": {"$elemMatch": {"y": 1}}},
        {"$text": {"$search": "hello"}},
        {"code": Code("function() { return 1; }")},
        {"note": "$where"},
    ],
)
def test_a_filter_is_and_ed_with_the_scope(user_filter: dict[str, Any]) -> None:
    assert scope_filter(user_filter, APP) == {"$and": [user_filter, {"app_id": APP}]}


def test_the_user_filter_is_never_merged_into_the_scope() -> None:
    # With dict.update the user's {"app_id": ...} would replace (or be replaced by) the scope.
    scoped = scope_filter({"app_id": "other_app", "x": 1}, APP)
    assert scoped == {"$and": [{"app_id": "other_app", "x": 1}, {"app_id": APP}]}
    assert list(scoped) == ["$and"]


def test_the_app_naming_its_own_id_adds_nothing() -> None:
    # Twice the same equality on app_id would stop an upsert ("path 'app_id' is matched twice").
    assert scope_filter({"app_id": APP}, APP) == {"app_id": APP}
    assert scope_filter(SON([("app_id", APP)]), APP) == {"app_id": APP}
    assert scope_filter({"app_id": APP, "x": 1}, APP) == {"$and": [{"x": 1}, {"app_id": APP}]}
    assert scope_filter({"x": 1, "app_id": APP, "y": 2}, APP) == {
        "$and": [{"x": 1, "y": 2}, {"app_id": APP}]
    }


def test_the_own_id_is_removed_from_a_copy() -> None:
    user_filter = {"app_id": APP, "x": 1}
    scope_filter(user_filter, APP)
    scope_filter({"app_id": APP}, APP)
    assert user_filter == {"app_id": APP, "x": 1}


@pytest.mark.parametrize(
    "user_filter",
    [SON([("x", 1), ("y", 2)]), OrderedDict(x=1, y=2), MappingProxyType({"x": 1, "y": 2})],
)
def test_mapping_filters_become_plain_dicts(user_filter: Any) -> None:
    scoped = scope_filter(user_filter, APP)
    assert scoped == {"$and": [{"x": 1, "y": 2}, {"app_id": APP}]}
    assert type(scoped["$and"][0]) is dict
    assert list(scoped["$and"][0]) == ["x", "y"]


def test_the_scoped_filter_is_a_new_object() -> None:
    user_filter = {"x": 1}
    scoped = scope_filter(user_filter, APP)
    assert scoped["$and"][0] is not user_filter
    scoped["$and"][0]["y"] = 2
    assert user_filter == {"x": 1}


@pytest.mark.parametrize(
    ("user_filter", "operator"),
    [
        ({"$where": "this.x == 1"}, "$where"),
        ({"$where": Code("this.x == 1")}, "$where"),
        ({"x": 1, "$where": "true"}, "$where"),
        ({"$or": [{"x": 1}, {"$where": "true"}]}, "$where"),
        ({"$and": [{"$nor": [{"$where": "true"}]}]}, "$where"),
        ({"$expr": {"$function": FUNCTION}}, "$function"),
        ({"$expr": {"$eq": [{"$function": FUNCTION}, True]}}, "$function"),
        ({"$expr": {"$and": [{"$gt": ["$x", 1]}, {"$function": FUNCTION}]}}, "$function"),
        ({"x": {"$elemMatch": {"$where": "true"}}}, "$where"),
        ({"$expr": {"$accumulator": ACCUMULATOR}}, "$accumulator"),
        ({"a": [{"b": ({"$function": FUNCTION},)}]}, "$function"),
    ],
)
def test_server_javascript_is_refused_at_any_depth(
    user_filter: dict[str, Any], operator: str
) -> None:
    with pytest.raises(ScopeViolation, match=re.escape(f"{operator} is not allowed in a scoped")):
        scope_filter(user_filter, APP)


@pytest.mark.parametrize("user_filter", ["x", ["x"], [("x", 1)], ("x",), 5, 1.5, ObjectId()])
def test_a_filter_that_is_not_a_mapping_is_a_type_error(user_filter: Any) -> None:
    with pytest.raises(TypeError):
        scope_filter(user_filter, APP)


@pytest.mark.parametrize("user_filter", ["", [], ()])
def test_an_empty_filter_that_is_not_a_mapping_is_a_type_error(user_filter: Any) -> None:
    # PyMongo refuses these ("filter must be an instance of dict"); a scoped find must not
    # silently turn them into "every document of the app".
    with pytest.raises(TypeError):
        scope_filter(user_filter, APP)


# -- check_no_server_javascript -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        1,
        "$where",
        "$function",
        ["$where", "$accumulator"],
        {"x": "$where"},
        {"x": {"y": [1, {"z": "$function"}]}},
        {"code": Code("function() {}")},
        {"$expr": {"$eq": ["$a", "$b"]}},
        {"$group": {"_id": None, "n": {"$sum": 1}}},
        {"where": 1, "function": 2, "accumulator": 3},
        {"$Where": 1},
    ],
)
def test_values_without_javascript_operators_pass(value: Any) -> None:
    before = copy.deepcopy(value)
    assert check_no_server_javascript(value) is None
    assert value == before


@pytest.mark.parametrize("operator", ["$where", "$function", "$accumulator"])
@pytest.mark.parametrize(
    "wrap",
    [
        lambda js: js,
        lambda js: {"a": js},
        lambda js: [js],
        lambda js: (js,),
        lambda js: {"a": [{"b": (js,)}]},
        lambda js: SON([("a", SON([("b", js)]))]),
        lambda js: MappingProxyType({"a": js}),
    ],
)
def test_javascript_operators_are_found_at_any_depth(operator: str, wrap: Any) -> None:
    with pytest.raises(ScopeViolation, match=re.escape(f"{operator} is not allowed in a scoped")):
        check_no_server_javascript(wrap({operator: "x"}))


@pytest.mark.parametrize("where", ["filter", "update", "pipeline", "change stream"])
def test_the_refusal_names_where_the_operator_was_found(where: str) -> None:
    with pytest.raises(
        ScopeViolation, match=f"^{re.escape(f'$where is not allowed in a scoped {where}')}$"
    ):
        check_no_server_javascript({"$where": "true"}, where=where)


def test_the_default_place_is_a_filter() -> None:
    with pytest.raises(ScopeViolation, match=r"^\$function is not allowed in a scoped filter$"):
        check_no_server_javascript({"$function": FUNCTION})


# -- tag_document ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, {"app_id": APP}),
        ({"x": 1}, {"x": 1, "app_id": APP}),
        ({"_id": 7, "x": {"y": [1, 2]}}, {"_id": 7, "x": {"y": [1, 2]}, "app_id": APP}),
        ({"app_id": APP, "x": 1}, {"app_id": APP, "x": 1}),
        (
            {"x.app_id": "other", "app_idx": "other"},
            {"x.app_id": "other", "app_idx": "other", "app_id": APP},
        ),
        ({"nested": {"app_id": "other"}}, {"nested": {"app_id": "other"}, "app_id": APP}),
        (SON([("b", 1), ("a", 2)]), {"b": 1, "a": 2, "app_id": APP}),
        (MappingProxyType({"x": 1}), {"x": 1, "app_id": APP}),
    ],
)
def test_documents_are_tagged_with_the_app(document: Any, expected: dict[str, Any]) -> None:
    tagged = tag_document(document, APP)
    assert tagged == expected
    assert type(tagged) is dict


def test_tagging_keeps_the_key_order_and_appends_app_id() -> None:
    assert list(tag_document({"b": 1, "a": 2}, APP)) == ["b", "a", "app_id"]
    assert list(tag_document({"app_id": APP, "b": 1}, APP)) == ["app_id", "b"]


def test_tagging_returns_a_copy() -> None:
    document = {"x": 1}
    tagged = tag_document(document, APP)
    assert tagged is not document
    assert document == {"x": 1}


@pytest.mark.parametrize("foreign", ["other_app", "", None, 1, ["my_app"], {"$ne": "x"}, "MY_APP"])
def test_a_document_of_another_app_is_refused(foreign: Any) -> None:
    document = {"x": 1, "app_id": foreign}
    with pytest.raises(ScopeViolation, match=re.escape(f"app_id={foreign!r}")):
        tag_document(document, APP)
    assert document == {"x": 1, "app_id": foreign}


@pytest.mark.parametrize("document", [None, "x", ["x"], [("x", 1)], 5])
def test_a_document_that_is_not_a_mapping_is_a_type_error(document: Any) -> None:
    with pytest.raises(TypeError, match="document must be a mapping"):
        tag_document(document, APP)


# -- no mutation ----------------------------------------------------------------------------

INPUTS: list[Any] = [
    None,
    {},
    {"x": 1},
    {"x": {"y": [1, {"z": 2}]}},
    {"app_id": APP, "x": [1, 2]},
    {"app_id": "other", "x": [1, 2]},
    {"$or": [{"x": 1}, {"y": {"$in": [1, 2]}}]},
    {"$where": "true"},
    {"$or": [{"$expr": {"$function": FUNCTION}}]},
    SON([("x", SON([("y", 1)]))]),
]


@pytest.mark.parametrize("value", INPUTS)
def test_no_function_mutates_its_input(value: Any) -> None:
    for function in (
        lambda v: scope_filter(v, APP),
        lambda v: tag_document(v, APP),
        check_no_server_javascript,
        is_app_id_path,
    ):
        before = copy.deepcopy(value)
        with contextlib.suppress(ScopeViolation, TypeError):
            function(value)
        assert value == before
        assert type(value) is type(before)
