"""Indexes of a stripped export stay consistent with documents that no longer carry app_id."""

from __future__ import annotations

from typing import Any

import pytest

from mdb_engine.errors import GraduationError
from mdb_engine.graduation.strip import strip_app_id_from_indexes


def index(name: str, key: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"v": 2, "key": key, "name": name, **options}


ID = index("_id_", {"_id": 1})


def test_indexes_without_app_id_are_kept_as_they_are() -> None:
    indexes = [ID, index("email_1", {"email": 1}, unique=True), index("t", {"_fts": "text"})]
    assert strip_app_id_from_indexes(indexes, "shop", "tasks") == (indexes, [])


def test_app_id_leaves_the_key_and_a_generated_name_follows() -> None:
    indexes = [
        ID,
        index("app_id_1_email_1", {"app_id": 1, "email": 1}, unique=True),
        index("by_category", {"app_id": 1, "category": 1, "at": -1}),
    ]
    stripped, notes = strip_app_id_from_indexes(indexes, "shop", "tasks")
    assert stripped == [
        ID,
        index("email_1", {"email": 1}, unique=True),
        index("by_category", {"category": 1, "at": -1}),
    ]
    assert list(stripped[2]["key"]) == ["category", "at"]
    assert notes == []


def test_an_index_on_app_id_alone_or_twin_of_another_is_left_out() -> None:
    indexes = [
        ID,
        index("app_id_1", {"app_id": 1}),
        index("category_1", {"category": 1}),
        index("scoped_category", {"app_id": 1, "category": 1}),
    ]
    stripped, notes = strip_app_id_from_indexes(indexes, "shop", "tasks")
    assert [item["name"] for item in stripped] == ["_id_", "category_1"]
    assert notes == [
        "index 'app_id_1' of collection 'tasks' is on app_id alone; left out",
        "index 'scoped_category' of collection 'tasks' without app_id is the index "
        "'category_1'; left out",
    ]


@pytest.mark.parametrize(
    ("partial", "expected"),
    [
        ({"app_id": "shop"}, None),
        ({"app_id": {"$eq": "shop"}, "score": {"$gt": 5}}, {"score": {"$gt": 5}}),
        ({"$and": [{"app_id": "shop"}, {"score": {"$gt": 5}}]}, {"$and": [{"score": {"$gt": 5}}]}),
        ({"$and": [{"app_id": "shop"}]}, None),
    ],
)
def test_the_scope_leaves_a_partial_filter(
    partial: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    indexes = [index("s", {"score": 1}, partialFilterExpression=partial)]
    (stripped,), _ = strip_app_id_from_indexes(indexes, "shop", "tasks")
    assert stripped.get("partialFilterExpression") == expected
    assert stripped["key"] == {"score": 1}


@pytest.mark.parametrize(
    "partial",
    [
        {"app_id": "other"},
        {"app_id": {"$in": ["shop"]}},
        {"app_id": {"$exists": True}},
        {"$or": [{"app_id": "shop"}, {"x": 1}]},
        {"$and": [{"app_id": "shop", "x": 1}]},
        {"app_id.x": 1},
    ],
)
def test_any_other_use_of_app_id_refuses_the_export(partial: dict[str, Any]) -> None:
    indexes = [index("s", {"score": 1}, partialFilterExpression=partial)]
    with pytest.raises(GraduationError, match="index 's' of collection 'tasks' uses app_id"):
        strip_app_id_from_indexes(indexes, "shop", "tasks")


def test_clashes_after_the_rewrite_refuse_the_export() -> None:
    unique_twin = [
        index("category_1", {"category": 1}),
        index("scoped", {"app_id": 1, "category": 1}, unique=True),
    ]
    with pytest.raises(GraduationError, match="next to the non-unique index 'category_1'"):
        strip_app_id_from_indexes(unique_twin, "shop", "tasks")
    same_name = [
        index("email_1", {"email": 1, "at": 1}),
        index("app_id_1_email_1", {"app_id": 1, "email": 1}),
    ]
    with pytest.raises(GraduationError, match="renamed 'email_1', a name already in use"):
        strip_app_id_from_indexes(same_name, "shop", "tasks")
