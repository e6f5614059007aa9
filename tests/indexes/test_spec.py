"""Declarations and ``listIndexes`` documents normalized to one comparable form."""

from __future__ import annotations

from typing import Any

import pytest
from bson.int64 import Int64
from bson.son import SON

from mdb_engine.core.manifest import IndexSpec
from mdb_engine.indexes.spec import (
    declare_index,
    differences,
    existing_definition,
    is_builtin_index,
    normalize_collation,
    same_collation,
    same_filter,
    same_value,
)

FULL_EN = {
    "locale": "en",
    "caseLevel": False,
    "caseFirst": "off",
    "strength": 3,
    "numericOrdering": False,
    "alternate": "non-ignorable",
    "maxVariable": "punct",
    "normalization": False,
    "backwards": False,
    "version": "57.1",
}


def spec(**fields: Any) -> IndexSpec:
    return IndexSpec.model_validate(fields)


def test_regular_index_keeps_key_order_and_generated_name() -> None:
    declared = declare_index(spec(keys={"status": 1, "created_at": -1}), None)
    assert declared.name == "status_1_created_at_-1"
    assert declared.definition.key == (("status", 1), ("created_at", -1))
    assert declared.definition.options == {}
    assert declared.create_document == {
        "key": {"status": 1, "created_at": -1},
        "name": "status_1_created_at_-1",
    }


def test_false_flags_are_dropped_and_true_ones_kept() -> None:
    declared = declare_index(spec(keys={"a": 1}, unique=True, sparse=False, hidden=False), None)
    assert declared.definition.options == {"unique": True}
    assert declared.create_document["unique"] is True
    assert "sparse" not in declared.create_document


def test_text_index_is_stored_as_fts_keys_with_weights_and_defaults() -> None:
    declared = declare_index(
        spec(type="text", keys={"a": 1, "title": "text", "body": "text"}, weights={"title": 5}),
        None,
    )
    assert declared.definition.key == (("a", 1), ("_fts", "text"), ("_ftsx", 1))
    assert declared.definition.options == {
        "weights": {"title": 5, "body": 1},
        "default_language": "english",
        "language_override": "language",
    }
    # What is sent is what was declared; the server fills in the rest.
    assert declared.create_document == {
        "key": {"a": 1, "title": "text", "body": "text"},
        "name": "a_1_title_text_body_text",
        "weights": {"title": 5},
    }


def test_text_index_matches_the_server_listing() -> None:
    listed = SON(
        [
            ("v", 2),
            ("key", SON([("_fts", "text"), ("_ftsx", 1)])),
            ("name", "body_text"),
            ("weights", SON([("body", 1)])),
            ("default_language", "english"),
            ("language_override", "language"),
            ("textIndexVersion", 3),
        ]
    )
    declared = declare_index(spec(type="text", keys={"body": "text"}), None)
    assert differences(declared.definition, existing_definition(listed)) == ()


def test_existing_definition_drops_bookkeeping_and_false_flags() -> None:
    listed = {
        "v": 2,
        "key": SON([("a", 1.0), ("loc", "2dsphere")]),
        "name": "a_1_loc_2dsphere",
        "sparse": False,
        "unique": 1,
        "2dsphereIndexVersion": 3,
        "background": True,
        "ns": "db.c",
    }
    definition = existing_definition(listed)
    assert definition.key == (("a", 1), ("loc", "2dsphere"))
    assert isinstance(definition.key[0][1], int)
    assert definition.options == {"unique": True}


def test_unknown_server_options_are_kept_so_they_show_as_differences() -> None:
    listed = {"v": 2, "key": {"loc": "2d"}, "name": "loc_2d", "bits": 20}
    declared = declare_index(spec(type="geospatial", keys={"loc": "2d"}), None)
    assert differences(declared.definition, existing_definition(listed)) == ("bits",)


def test_builtin_indexes() -> None:
    assert is_builtin_index({"name": "_id_", "key": {"_id": 1}})
    assert is_builtin_index({"name": "clustered", "key": {"_id": 1}, "clustered": True})
    assert not is_builtin_index({"name": "a_1", "key": {"a": 1}})


def test_collection_default_collation_is_inherited_by_regular_indexes() -> None:
    declared = declare_index(spec(keys={"a": 1}), {"locale": "fr"})
    assert declared.definition.options == {"collation": {"locale": "fr"}}
    assert "collation" not in declared.create_document  # the server applies the default


@pytest.mark.parametrize("keys", [{"t": "text"}, {"loc": "2d"}])
def test_text_and_2d_get_the_simple_collation_on_a_collated_collection(
    keys: dict[str, Any],
) -> None:
    declared = declare_index(spec(keys=keys), {"locale": "fr"})
    assert declared.create_document["collation"] == {"locale": "simple"}
    assert "collation" not in declared.definition.options


def test_declared_collation_wins_over_the_default_and_simple_means_none() -> None:
    declared = declare_index(spec(keys={"a": 1}, collation={"locale": "de"}), {"locale": "fr"})
    assert declared.definition.options["collation"] == {"locale": "de"}
    simple = declare_index(spec(keys={"a": 1}, collation={"locale": "simple"}), None)
    assert "collation" not in simple.definition.options
    assert normalize_collation({"locale": "simple"}) is None
    assert normalize_collation(None) is None


def test_model_builds_the_pymongo_index_model() -> None:
    declared = declare_index(spec(type="ttl", keys={"at": 1}, expireAfterSeconds=60), None)
    assert declared.model().document == {
        "key": SON([("at", 1)]),
        "name": "at_1",
        "expireAfterSeconds": 60,
    }


@pytest.mark.parametrize(
    ("first", "second", "equal"),
    [
        (1, 1.0, True),
        (1, Int64(1), True),
        (True, 1, False),
        (False, 0, False),
        (True, True, True),
        ("1", 1, False),
        ([1, 2], [1.0, 2], True),
        ([1, 2], [2, 1], False),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        (None, None, True),
        (None, 0, False),
    ],
)
def test_same_value(first: Any, second: Any, equal: bool) -> None:
    assert same_value(first, second) is equal
    assert same_value(second, first) is equal


def test_same_value_ordered_sees_document_order() -> None:
    assert not same_value({"a": 1, "b": 2}, {"b": 2, "a": 1}, ordered=True)
    assert same_value({"a": 1, "b": 2}, {"a": 1.0, "b": 2}, ordered=True)


def test_same_filter_ignores_field_and_operator_order_only() -> None:
    assert same_filter(
        {"a": {"$gt": 1, "$lt": 9}, "b": "x"}, {"b": "x", "a": {"$lt": 9, "$gt": 1.0}}
    )
    assert same_filter({"$or": [{"a": 1}, {"b": 2}]}, {"$or": [{"a": 1}, {"b": 2}]})
    assert not same_filter({"$or": [{"a": 1}, {"b": 2}]}, {"$or": [{"b": 2}, {"a": 1}]})
    # A literal embedded document is compared in order, as MongoDB compares it.
    assert not same_filter({"a": {"x": 1, "y": 2}}, {"a": {"y": 2, "x": 1}})
    assert not same_filter({"a": {"$exists": True}}, {"a": {"$exists": 1}})
    assert not same_filter({"a": 1}, {"a": 1, "b": 1})
    assert not same_filter({"$and": [{"a": 1}]}, {"$and": {"a": 1}})


def test_same_collation_compares_declared_fields_and_locale_free_defaults() -> None:
    assert same_collation({"locale": "en"}, FULL_EN)
    assert same_collation({"locale": "en", "strength": 3}, FULL_EN)
    assert not same_collation({"locale": "en", "strength": 2}, FULL_EN)
    # Declared strength 2 dropped from the manifest: the existing 2 is not the default 3.
    assert not same_collation({"locale": "en"}, {**FULL_EN, "strength": 2})
    # caseFirst/backwards/normalization/alternate default differently per locale.
    assert same_collation({"locale": "fr_CA"}, {**FULL_EN, "locale": "fr_CA", "backwards": True})
    assert not same_collation({"locale": "fr"}, FULL_EN)
    assert not same_collation({"locale": "en"}, None)
    assert same_collation({"locale": "simple"}, None)


def test_wildcard_projection_compares_inclusion_not_spelling() -> None:
    declared = declare_index(
        spec(type="wildcard", keys={"$**": 1}, wildcardProjection={"a": 1}), None
    )
    listed = {"v": 2, "key": {"$**": 1}, "name": "$**_1", "wildcardProjection": {"a": True}}
    assert differences(declared.definition, existing_definition(listed)) == ()
    listed["wildcardProjection"] = {"a": 0}
    assert differences(declared.definition, existing_definition(listed)) == ("wildcardProjection",)


def test_differences_name_each_changed_part() -> None:
    declared = declare_index(spec(keys={"a": 1, "b": 1}, unique=True), None)
    listed = {"v": 2, "key": {"b": 1, "a": 1}, "name": "a_1_b_1", "sparse": True}
    assert differences(declared.definition, existing_definition(listed)) == (
        "key",
        "sparse",
        "unique",
    )
