"""Pure naming rules: slugs, collisions, logical and physical collection names."""

from __future__ import annotations

import pytest

from mdb_engine.database.names import (
    find_slug_collision,
    is_valid_slug,
    physical_name,
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
