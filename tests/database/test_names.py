"""Pure naming rules: slugs, collisions, logical and physical collection names."""

from __future__ import annotations

import contextlib
import copy
import re
from typing import Any

import pytest
from bson import SON

from mdb_engine.database.names import (
    find_slug_collision,
    is_valid_slug,
    physical_name,
    scope_collection_filter,
    slugs_collide,
    validate_collection_name,
)
from mdb_engine.errors import ScopeViolation


@pytest.mark.parametrize("slug", ["my_app", "ab", "a-b", "x" * 63, "app2"])
def test_valid_slugs(slug: str) -> None:
    assert is_valid_slug(slug)


@pytest.mark.parametrize("slug", ["a", "My_app", "1app", "my app", "x" * 64, "", None, "_app"])
def test_invalid_slugs(slug: object) -> None:
    assert not is_valid_slug(slug)


@pytest.mark.parametrize(
    ("first", "second", "collide"),
    [
        ("ab", "ab_cd", True),
        ("ab_cd", "ab", True),
        ("ab", "abc", False),
        ("ab", "ab-c", False),
        ("ab", "ab", False),
        ("a_b", "a_b_c", True),
    ],
)
def test_slug_collisions(first: str, second: str, collide: bool) -> None:
    assert slugs_collide(first, second) is collide


def test_find_slug_collision() -> None:
    assert find_slug_collision("ab", ["zz", "ab_x", "ab"]) == "ab_x"
    assert find_slug_collision("ab", ["abc", "ab"]) is None


def test_physical_name() -> None:
    assert physical_name("my_app", "tasks") == "my_app_tasks"
    assert physical_name("my_app", "fs.files") == "my_app_fs.files"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "_mdb_engine_apps",
        "_private",
        "system.users",
        "a$b",
        "$cmd",
        "../x",
        "a..b",
        "trailing.",
        "tаsks",  # Cyrillic 'а': a look-alike of "tasks"
        "with space",
        "nul\x00",
        "x" * 121,
    ],
)
def test_refused_collection_names(name: str) -> None:
    with pytest.raises(ScopeViolation, match="invalid collection name"):
        validate_collection_name(name)


def test_collection_name_must_be_a_string() -> None:
    with pytest.raises(ScopeViolation, match="must be a string"):
        validate_collection_name(3)


# -- scope_collection_filter ----------------------------------------------------------------

OWN = {"name": {"$regex": "^my_app_"}}


@pytest.mark.parametrize("empty", [None, {}, SON()])
def test_an_empty_collection_filter_lists_the_apps_collections(empty: Any) -> None:
    assert scope_collection_filter(empty, "my_app") == OWN


@pytest.mark.parametrize(
    ("slug", "pattern"), [("my_app", "^my_app_"), ("a-b", "^a\\-b_"), ("ab2", "^ab2_")]
)
def test_the_own_prefix_is_an_escaped_regex(slug: str, pattern: str) -> None:
    assert scope_collection_filter(None, slug) == {"name": {"$regex": pattern}}


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("my_app_tasks", True),
        ("my_app_fs.files", True),
        ("my_app_", True),
        ("my_app", False),
        ("my_appx_tasks", False),
        ("my_app2_tasks", False),
        ("other_my_app_tasks", False),
        ("_mdb_engine_apps", False),
        ("system.views", False),
    ],
)
def test_the_own_prefix_matches_only_the_apps_collections(name: str, matches: bool) -> None:
    pattern = scope_collection_filter(None, "my_app")["name"]["$regex"]
    assert (re.search(pattern, name) is not None) is matches


@pytest.mark.parametrize(
    ("user_filter", "translated"),
    [
        ({"name": "tasks"}, {"name": "my_app_tasks"}),
        ({"name": "fs.files"}, {"name": "my_app_fs.files"}),
        ({"name": {"$eq": "tasks"}}, {"name": {"$eq": "my_app_tasks"}}),
        ({"name": {"$ne": "tasks"}}, {"name": {"$ne": "my_app_tasks"}}),
        ({"name": {"$in": ["a", "b"]}}, {"name": {"$in": ["my_app_a", "my_app_b"]}}),
        ({"name": {"$in": ("a",)}}, {"name": {"$in": ["my_app_a"]}}),
        ({"name": {"$in": []}}, {"name": {"$in": []}}),
        ({"name": {"$nin": ["a"]}}, {"name": {"$nin": ["my_app_a"]}}),
        (
            {"name": {"$in": ["a", "b"], "$nin": ["b"], "$ne": "c"}},
            {"name": {"$in": ["my_app_a", "my_app_b"], "$nin": ["my_app_b"], "$ne": "my_app_c"}},
        ),
        ({"name": {}}, {"name": {}}),
        ({"type": "view"}, {"type": "view"}),
        ({"options.capped": True}, {"options.capped": True}),
        (
            {"info.readOnly": False, "type": {"$in": ["collection", "view"]}},
            {"info.readOnly": False, "type": {"$in": ["collection", "view"]}},
        ),
        ({"type": "collection", "name": "tasks"}, {"type": "collection", "name": "my_app_tasks"}),
        (SON([("name", "tasks")]), {"name": "my_app_tasks"}),
    ],
)
def test_a_collection_filter_is_translated_and_and_ed_with_the_prefix(
    user_filter: Any, translated: dict[str, Any]
) -> None:
    assert scope_collection_filter(user_filter, "my_app") == {"$and": [OWN, translated]}


@pytest.mark.parametrize(
    ("user_filter", "message"),
    [
        ({"$or": [{"name": "a"}]}, "field conditions only, not '$or'"),
        ({"$and": [{"name": "a"}]}, "field conditions only, not '$and'"),
        ({"$expr": {"$eq": [1, 1]}}, "field conditions only"),
        ({"$where": "true"}, "field conditions only"),
        ({1: "x"}, "field conditions only, not 1"),
        ({"name": {"$regex": "^other_"}}, "a collection name or $eq/$ne/$in/$nin"),
        ({"name": {"$not": {"$eq": "a"}}}, "a collection name or $eq/$ne/$in/$nin"),
        ({"name": {"$in": ["a"], "$exists": True}}, "a collection name or $eq/$ne/$in/$nin"),
        ({"name": {"$gt": ""}}, "a collection name or $eq/$ne/$in/$nin"),
        ({"name": None}, "a collection name or $eq/$ne/$in/$nin"),
        ({"name": 5}, "a collection name or $eq/$ne/$in/$nin"),
        ({"name": ["a"]}, "a collection name or $eq/$ne/$in/$nin"),
        ({"name": {"$in": "a"}}, "$in on 'name' takes a list of collection names"),
        ({"name": {"$nin": None}}, "$nin on 'name' takes a list of collection names"),
        ({"name": "$cmd"}, "invalid collection name"),
        ({"name": "system.users"}, "invalid collection name"),
        ({"name": "_mdb_engine_apps"}, "invalid collection name"),
        ({"name": ""}, "invalid collection name"),
        ({"name": {"$eq": "a..b"}}, "invalid collection name"),
        ({"name": {"$ne": 3}}, "collection name must be a string"),
        ({"name": {"$in": ["a", "_private"]}}, "invalid collection name"),
        ({"name": {"$nin": [None]}}, "collection name must be a string"),
    ],
)
def test_a_collection_filter_that_could_escape_is_refused(
    user_filter: dict[Any, Any], message: str
) -> None:
    with pytest.raises(ScopeViolation, match=re.escape(message)):
        scope_collection_filter(user_filter, "my_app")


@pytest.mark.parametrize(
    "user_filter",
    [
        None,
        {"name": "tasks", "type": "collection"},
        {"name": {"$in": ["a", "b"], "$nin": ("c",)}},
        {"options": {"capped": True}},
        {"name": {"$regex": "x"}},
        {"$or": [{"name": "a"}]},
    ],
)
def test_a_collection_filter_is_never_mutated(user_filter: Any) -> None:
    before = copy.deepcopy(user_filter)
    with contextlib.suppress(ScopeViolation):
        scope_collection_filter(user_filter, "my_app")
    assert user_filter == before
