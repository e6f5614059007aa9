"""The pure index plan: each declared and existing index gets exactly one action."""

from __future__ import annotations

import json
from typing import Any

from mdb_engine.core.manifest import IndexSpec
from mdb_engine.indexes import IndexAction, IndexPlan
from mdb_engine.indexes.plan import plan_collection, plan_search_indexes
from mdb_engine.indexes.search import declare_search_index, definition_holds
from mdb_engine.indexes.spec import DeclaredIndex, declare_index

ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
VECTOR = {"fields": [{"type": "vector", "path": "e", "numDimensions": 3, "similarity": "cosine"}]}


def declared(**fields: Any) -> DeclaredIndex:
    return declare_index(IndexSpec.model_validate(fields), None)


def listed(name: str, key: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"v": 2, "key": key, "name": name, **options}


def actions(changes: list[Any]) -> list[tuple[str, IndexAction]]:
    return [(change.name, change.action) for change in changes]


def test_missing_index_is_created_and_existing_one_unchanged() -> None:
    changes = plan_collection(
        "tasks",
        [declared(keys={"a": 1}), declared(keys={"b": -1}, name="b_desc")],
        [ID_INDEX, listed("a_1", {"a": 1})],
    )
    assert actions(changes) == [("a_1", IndexAction.UNCHANGED), ("b_desc", IndexAction.CREATE)]
    assert changes[1].declared == {"name": "b_desc", "key": {"b": -1}}
    assert changes[1].existing is None


def test_ttl_change_and_new_ttl_are_modified_in_place() -> None:
    changes = plan_collection(
        "c",
        [
            declared(type="ttl", keys={"at": 1}, expireAfterSeconds=60),
            declared(type="ttl", keys={"seen": 1}, expireAfterSeconds=5),
        ],
        [listed("at_1", {"at": 1}, expireAfterSeconds=30), listed("seen_1", {"seen": 1})],
    )
    assert actions(changes) == [("at_1", IndexAction.MODIFY), ("seen_1", IndexAction.MODIFY)]
    assert changes[0].differences == ("expireAfterSeconds",)


def test_hidden_is_modified_in_place() -> None:
    changes = plan_collection(
        "c", [declared(keys={"a": 1})], [listed("a_1", {"a": 1}, hidden=True)]
    )
    assert actions(changes) == [("a_1", IndexAction.MODIFY)]
    assert changes[0].differences == ("hidden",)


def test_removing_a_ttl_is_a_conflict() -> None:
    changes = plan_collection(
        "c", [declared(keys={"at": 1})], [listed("at_1", {"at": 1}, expireAfterSeconds=30)]
    )
    assert actions(changes) == [("at_1", IndexAction.CONFLICT)]
    assert changes[0].detail == "differs in expireAfterSeconds"


def test_other_changes_are_conflicts_with_both_specs() -> None:
    changes = plan_collection(
        "c",
        [
            declared(keys={"email": 1}, unique=True, name="email"),
            declared(keys={"a": 1, "b": 1}, name="ab"),
            declared(type="ttl", keys={"at": 1}, expireAfterSeconds=5, unique=True),
        ],
        [
            listed("email", {"email": 1}),
            listed("ab", {"b": 1, "a": 1}),
            listed("at_1", {"at": 1}, expireAfterSeconds=1),
        ],
    )
    assert [change.action for change in changes] == [IndexAction.CONFLICT] * 3
    assert changes[0].declared == {"name": "email", "key": {"email": 1}, "unique": True}
    assert changes[0].existing == {"name": "email", "key": {"email": 1}}
    assert changes[1].differences == ("key",)
    # A TTL change mixed with another change cannot be done in place.
    assert changes[2].differences == ("expireAfterSeconds", "unique")


def test_same_index_under_another_name_is_a_conflict_not_an_extra() -> None:
    changes = plan_collection(
        "c", [declared(keys={"a": 1}, name="new_name")], [ID_INDEX, listed("old", {"a": 1})]
    )
    assert actions(changes) == [("new_name", IndexAction.CONFLICT)]
    assert changes[0].existing_name == "old"
    assert changes[0].detail == "the same index exists under the name 'old'"


def test_undeclared_indexes_are_extras_but_never_the_id_index() -> None:
    changes = plan_collection(
        "c",
        [],
        [ID_INDEX, listed("x_1", {"x": 1}, unique=True), listed("clu", {"_id": 1}, clustered=True)],
    )
    assert actions(changes) == [("x_1", IndexAction.EXTRA)]
    assert changes[0].is_unique
    assert changes[0].existing == {"name": "x_1", "key": {"x": 1}, "unique": True}


def test_search_indexes_on_a_server_without_search_are_unsupported() -> None:
    vector = declare_search_index(
        IndexSpec.model_validate({"type": "vectorSearch", "name": "vec", "definition": VECTOR})
    )
    changes = plan_search_indexes("docs", [vector], None, "no search here")
    assert actions(changes) == [("vec", IndexAction.UNSUPPORTED)]
    assert changes[0].kind == "vectorSearch"
    assert changes[0].detail == "no search here"


def test_vector_definitions_gain_an_app_id_filter_once() -> None:
    vector = declare_search_index(
        IndexSpec.model_validate({"type": "vectorSearch", "name": "vec", "definition": VECTOR})
    )
    assert vector.definition["fields"][-1] == {"type": "filter", "path": "app_id"}
    again = declare_search_index(
        IndexSpec.model_validate(
            {"type": "vectorSearch", "name": "vec", "definition": dict(vector.definition)}
        )
    )
    assert again.definition == vector.definition
    search = declare_search_index(
        IndexSpec.model_validate({"type": "search", "definition": {"mappings": {"dynamic": True}}})
    )
    assert search.name == "default"
    assert search.definition == {"mappings": {"dynamic": True}}


def test_search_plan_create_unchanged_modify_conflict_extra() -> None:
    def search(name: str, definition: dict[str, Any], kind: str = "search") -> Any:
        return declare_search_index(
            IndexSpec.model_validate({"type": kind, "name": name, "definition": definition})
        )

    declared_indexes = [
        search("new", {"mappings": {"dynamic": True}}),
        search("same", {"mappings": {"dynamic": True}}),
        search("changed", {"mappings": {"dynamic": False}}),
        search("retyped", VECTOR, "vectorSearch"),
    ]
    existing = [
        # Atlas adds defaults the manifest never declared: still the same index.
        {
            "name": "same",
            "type": "search",
            "latestDefinition": {"mappings": {"dynamic": True, "fields": {}}, "analyzer": "x"},
        },
        {"name": "changed", "type": "search", "latestDefinition": {"mappings": {"dynamic": True}}},
        {"name": "retyped", "type": "search", "latestDefinition": {"mappings": {"dynamic": True}}},
        {"name": "old", "type": "search", "latestDefinition": {"mappings": {"dynamic": True}}},
    ]
    changes = plan_search_indexes("docs", declared_indexes, existing)
    assert actions(changes) == [
        ("new", IndexAction.CREATE),
        ("same", IndexAction.UNCHANGED),
        ("changed", IndexAction.MODIFY),
        ("retyped", IndexAction.CONFLICT),
        ("old", IndexAction.EXTRA),
    ]
    assert changes[-1].is_search


def test_definition_holds() -> None:
    assert definition_holds({"a": [1, {"b": 2}]}, {"a": [1.0, {"b": 2, "c": 3}], "d": 4})
    assert not definition_holds({"a": [1]}, {"a": [1, 2]})
    assert not definition_holds({"a": 1}, {})
    assert not definition_holds({"a": True}, {"a": 1})


def test_plan_report_groups_and_serializes() -> None:
    changes = plan_collection(
        "c",
        [declared(keys={"a": 1}), declared(keys={"b": 1})],
        [listed("a_1", {"a": 1}), listed("z_1", {"z": 1})],
    )
    plan = IndexPlan("app", tuple(changes))
    assert [change.name for change in plan.create] == ["b_1"]
    assert [change.name for change in plan.unchanged] == ["a_1"]
    assert [change.name for change in plan.extra] == ["z_1"]
    assert plan.modify == plan.conflict == plan.unsupported == ()
    assert not plan.is_in_sync
    assert plan.counts() == {
        "create": 1,
        "unchanged": 1,
        "modify": 0,
        "conflict": 0,
        "extra": 1,
        "unsupported": 0,
    }
    document = json.loads(json.dumps(plan.to_dict()))
    assert document["changes"][1]["action"] == "create"
    assert IndexPlan("app", (changes[0], changes[2])).is_in_sync
