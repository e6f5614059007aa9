"""Pure aggregation rules: the stage allowlist, sub-pipelines, output stages, change streams."""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bson import SON

from mdb_engine.database.rewrite_pipeline import (
    CHANGE_STREAM_STAGES,
    PASS_THROUGH_STAGES,
    REFUSED_STAGES,
    pipeline_writes,
    referenced_collections,
    rewrite_change_stream_pipeline,
    rewrite_pipeline,
)
from mdb_engine.errors import ScopeViolation

APP = "my_app"
DB = "engine_db"
SCOPE = {"$match": {"app_id": APP}}
STAMP = {"$set": {"app_id": APP}}
CHANGE_SCOPE = {"$match": {"fullDocument.app_id": {"$in": [APP, None]}}}

FUNCTION = {"body": "function() { return true; }", "args": [], "lang": "js"}
ACCUMULATOR = {
    "init": "function() { return 0; }",
    "accumulate": "function(s) { return s; }",
    "accumulateArgs": [],
    "merge": "function(a, b) { return a; }",
    "lang": "js",
}

INVALID_NAMES = ["_mdb_engine_apps", "system.users", "$cmd", "a..b", "", "x$y", "_private"]
NON_STRING_NAMES: list[Any] = [None, 1, ["orders"], {"db": "other", "coll": "orders"}]


def rewrite(pipeline: Any) -> list[dict[str, Any]]:
    return rewrite_pipeline(pipeline, APP, database_name=DB)  # type: ignore[return-value]


# -- the stage lists ------------------------------------------------------------------------

PASS_THROUGH_EXAMPLES: dict[str, Any] = {
    "$match": {"x": {"$gt": 1}},
    "$project": {"x": 1, "_id": 0},
    "$addFields": {"y": {"$add": ["$x", 1]}},
    "$set": {"y": 1},
    "$unset": ["x", "y"],
    "$group": {"_id": "$x", "n": {"$sum": 1}},
    "$sort": {"x": -1},
    "$limit": 10,
    "$skip": 5,
    "$count": "n",
    "$unwind": "$tags",
    "$replaceRoot": {"newRoot": "$sub"},
    "$replaceWith": "$sub",
    "$sample": {"size": 3},
    "$bucket": {"groupBy": "$x", "boundaries": [0, 10, 20], "default": "other"},
    "$bucketAuto": {"groupBy": "$x", "buckets": 4},
    "$sortByCount": "$x",
    "$redact": {"$cond": [{"$eq": ["$level", 1]}, "$$KEEP", "$$PRUNE"]},
    "$densify": {"field": "x", "range": {"step": 1, "bounds": "full"}},
    "$fill": {"output": {"x": {"value": 0}}},
    "$setWindowFields": {"sortBy": {"x": 1}, "output": {"n": {"$documentNumber": {}}}},
}


def test_the_pass_through_stages() -> None:
    assert set(PASS_THROUGH_EXAMPLES) == PASS_THROUGH_STAGES


def test_the_refused_stages() -> None:
    assert set(REFUSED_STAGES) == {
        "$currentOp",
        "$listSessions",
        "$listLocalSessions",
        "$changeStream",
        "$changeStreamSplitLargeEvent",
        "$planCacheStats",
        "$documents",
        "$collStats",
        "$indexStats",
        "$listSearchIndexes",
        "$searchMeta",
        "$shardedDataDistribution",
        "$listSampledQueries",
    }
    assert all(isinstance(reason, str) and reason for reason in REFUSED_STAGES.values())


def test_the_change_stream_stages() -> None:
    assert (
        frozenset(
            {
                "$match",
                "$project",
                "$addFields",
                "$set",
                "$unset",
                "$replaceRoot",
                "$replaceWith",
                "$redact",
            }
        )
        == CHANGE_STREAM_STAGES
    )


def test_the_stage_lists_do_not_overlap() -> None:
    special = {"$lookup", "$graphLookup", "$unionWith", "$facet", "$out", "$merge"}
    first_only = {"$geoNear", "$vectorSearch", "$search"}
    assert not PASS_THROUGH_STAGES & set(REFUSED_STAGES)
    assert not (special | first_only) & (PASS_THROUGH_STAGES | set(REFUSED_STAGES))
    assert set(REFUSED_STAGES) >= {
        "$currentOp",
        "$listSessions",
        "$changeStream",
        "$planCacheStats",
        "$documents",
    }
    assert CHANGE_STREAM_STAGES <= PASS_THROUGH_STAGES


# -- the scope goes first -------------------------------------------------------------------


@pytest.mark.parametrize("empty", [[], ()])
def test_an_empty_pipeline_is_just_the_scope(empty: Any) -> None:
    assert rewrite(empty) == [SCOPE]


@pytest.mark.parametrize("name", sorted(PASS_THROUGH_STAGES))
def test_a_pass_through_stage_follows_the_scope(name: str) -> None:
    spec = PASS_THROUGH_EXAMPLES[name]
    assert rewrite([{name: spec}]) == [SCOPE, {name: spec}]
    assert rewrite([{"$match": {"a": 1}}, {name: spec}]) == [
        SCOPE,
        {"$match": {"a": 1}},
        {name: spec},
    ]


def test_the_scope_is_added_once_before_the_users_stages() -> None:
    pipeline = [
        {"$match": {"app_id": "other_app"}},
        {"$group": {"_id": "$app_id", "n": {"$sum": 1}}},
        {"$sort": {"n": -1}},
        {"$limit": 3},
    ]
    assert rewrite(pipeline) == [SCOPE, *pipeline]


def test_a_tuple_pipeline_and_son_stages_are_accepted() -> None:
    assert rewrite(({"$limit": 1}, SON([("$skip", 2)]))) == [SCOPE, {"$limit": 1}, {"$skip": 2}]


def test_database_name_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        rewrite_pipeline([], APP, DB)  # type: ignore[misc]


# -- refused, unknown and malformed stages --------------------------------------------------


@pytest.mark.parametrize(("name", "reason"), sorted(REFUSED_STAGES.items()))
def test_a_refused_stage_is_refused_with_its_reason(name: str, reason: str) -> None:
    message = f"{name} is refused in a scoped pipeline: {reason}"
    for pipeline in ([{name: {}}], [{"$match": {}}, {name: {}}]):
        with pytest.raises(ScopeViolation, match=f"^{re.escape(message)}$"):
            rewrite(pipeline)


@pytest.mark.parametrize("name", sorted(REFUSED_STAGES))
@pytest.mark.parametrize(
    "wrap",
    [
        lambda stage: [{"$facet": {"branch": [stage]}}],
        lambda stage: [{"$lookup": {"from": "o", "as": "o", "pipeline": [{"$match": {}}, stage]}}],
        lambda stage: [{"$unionWith": {"coll": "o", "pipeline": [stage]}}],
        lambda stage: [
            {"$lookup": {"from": "o", "as": "o", "pipeline": [{"$facet": {"b": [stage]}}]}}
        ],
    ],
)
def test_a_refused_stage_is_refused_at_any_depth(name: str, wrap: Any) -> None:
    with pytest.raises(ScopeViolation, match=re.escape(f"{name} is refused in a scoped pipeline")):
        rewrite(wrap({name: {}}))


@pytest.mark.parametrize(
    "name", ["$bogus", "$queryStats", "$querySettings", "match", "$MATCH", "", "$", "$ match"]
)
def test_an_unknown_stage_is_refused(name: str) -> None:
    message = f"unknown or unsupported pipeline stage {name!r} is refused"
    for pipeline in (
        [{name: {}}],
        [{"$match": {}}, {name: {}}],
        [{"$facet": {"b": [{name: {}}]}}],
        [{"$lookup": {"from": "o", "as": "o", "pipeline": [{name: {}}]}}],
        [{"$unionWith": {"coll": "o", "pipeline": [{name: {}}]}}],
    ):
        with pytest.raises(ScopeViolation, match=f"^{re.escape(message)}$"):
            rewrite(pipeline)


@pytest.mark.parametrize(
    "stage",
    [
        {"$match": {}, "$limit": 1},
        {},
        "$match",
        None,
        1,
        [("$match", {})],
        [{"$match": {}}],
    ],
)
def test_a_malformed_stage_is_refused(stage: Any) -> None:
    message = "pipeline stage {} must be a document with exactly one stage name"
    with pytest.raises(ScopeViolation, match=re.escape(message.format(0))):
        rewrite([stage])
    with pytest.raises(ScopeViolation, match=re.escape(message.format(2))):
        rewrite([{"$match": {}}, {"$limit": 1}, stage])
    with pytest.raises(ScopeViolation, match=re.escape(message.format(1))):
        rewrite([{"$facet": {"b": [{"$match": {}}, stage]}}])


def test_a_stage_name_must_be_a_string() -> None:
    with pytest.raises(ScopeViolation, match="pipeline stage 0 has a non-string name"):
        rewrite([{1: {}}])


@pytest.mark.parametrize("pipeline", [{"$match": {}}, "$match", None, 5, SON([("$match", {})])])
def test_a_pipeline_that_is_not_a_list_is_a_type_error(pipeline: Any) -> None:
    with pytest.raises(TypeError, match="pipeline must be a list"):
        rewrite(pipeline)


# -- server-side JavaScript -----------------------------------------------------------------

JAVASCRIPT_PIPELINES: list[tuple[list[dict[str, Any]], str]] = [
    ([{"$match": {"$where": "true"}}], "$where"),
    ([{"$match": {"x": 1}}, {"$match": {"$or": [{"$where": "true"}]}}], "$where"),
    ([{"$match": {"$expr": {"$function": FUNCTION}}}], "$function"),
    ([{"$match": {"$expr": {"$and": [True, {"$function": FUNCTION}]}}}], "$function"),
    ([{"$addFields": {"x": {"$function": FUNCTION}}}], "$function"),
    ([{"$project": {"x": {"$function": FUNCTION}}}], "$function"),
    ([{"$group": {"_id": None, "x": {"$accumulator": ACCUMULATOR}}}], "$accumulator"),
    (
        [
            {
                "$bucket": {
                    "groupBy": "$x",
                    "boundaries": [0, 1],
                    "output": {"a": {"$accumulator": {}}},
                }
            }
        ],
        "$accumulator",
    ),
    ([{"$setWindowFields": {"output": {"x": {"$function": FUNCTION}}}}], "$function"),
    ([{"$facet": {"a": [{"$match": {"$where": "true"}}]}}], "$where"),
    (
        [{"$facet": {"a": [], "b": [{"$group": {"_id": 1, "x": {"$accumulator": {}}}}]}}],
        "$accumulator",
    ),
    ([{"$lookup": {"from": "o", "as": "o", "pipeline": [{"$match": {"$where": "1"}}]}}], "$where"),
    ([{"$lookup": {"from": "o", "as": "o", "let": {"v": {"$function": FUNCTION}}}}], "$function"),
    (
        [
            {
                "$lookup": {
                    "from": "o",
                    "as": "o",
                    "pipeline": [
                        {
                            "$lookup": {
                                "from": "p",
                                "as": "p",
                                "pipeline": [{"$match": {"$where": "1"}}],
                            }
                        }
                    ],
                }
            }
        ],
        "$where",
    ),
    (
        [{"$unionWith": {"coll": "o", "pipeline": [{"$set": {"x": {"$function": FUNCTION}}}]}}],
        "$function",
    ),
    (
        [
            {
                "$graphLookup": {
                    "from": "o",
                    "startWith": "$a",
                    "connectFromField": "a",
                    "connectToField": "b",
                    "as": "c",
                    "restrictSearchWithMatch": {"$where": "true"},
                }
            }
        ],
        "$where",
    ),
    ([{"$geoNear": {"near": [0, 0], "distanceField": "d", "query": {"$where": "1"}}}], "$where"),
    ([{"$vectorSearch": {"filter": {"$where": "1"}}}], "$where"),
    (
        [{"$merge": {"into": "x", "whenMatched": [{"$set": {"x": {"$function": FUNCTION}}}]}}],
        "$function",
    ),
    ([{"$redact": {"$cond": [{"$function": FUNCTION}, "$$KEEP", "$$PRUNE"]}}], "$function"),
]


@pytest.mark.parametrize(("pipeline", "operator"), JAVASCRIPT_PIPELINES)
def test_server_javascript_is_refused_at_any_depth(
    pipeline: list[dict[str, Any]], operator: str
) -> None:
    with pytest.raises(
        ScopeViolation, match=f"^{re.escape(f'{operator} is not allowed in a scoped pipeline')}$"
    ):
        rewrite(pipeline)


# -- $lookup --------------------------------------------------------------------------------


def test_a_lookup_by_fields_gets_a_scoped_pipeline() -> None:
    lookup = {"from": "orders", "localField": "a", "foreignField": "b", "as": "o"}
    assert rewrite([{"$lookup": lookup}]) == [
        SCOPE,
        {
            "$lookup": {
                "from": "my_app_orders",
                "localField": "a",
                "foreignField": "b",
                "as": "o",
                "pipeline": [SCOPE],
            }
        },
    ]


def test_a_lookup_with_a_pipeline_gets_the_scope_prepended() -> None:
    sub = [{"$match": {"$expr": {"$eq": ["$b", "$$a"]}}}, {"$project": {"b": 1}}]
    lookup = {"from": "orders", "let": {"a": "$a"}, "pipeline": sub, "as": "o"}
    assert rewrite([{"$match": {"x": 1}}, {"$lookup": lookup}]) == [
        SCOPE,
        {"$match": {"x": 1}},
        {
            "$lookup": {
                "from": "my_app_orders",
                "let": {"a": "$a"},
                "pipeline": [SCOPE, *sub],
                "as": "o",
            }
        },
    ]


def test_a_lookup_with_fields_and_a_pipeline() -> None:
    lookup = {
        "from": "orders",
        "localField": "a",
        "foreignField": "b",
        "pipeline": [{"$limit": 1}],
        "as": "o",
    }
    assert rewrite([{"$lookup": lookup}])[1] == {
        "$lookup": {**lookup, "from": "my_app_orders", "pipeline": [SCOPE, {"$limit": 1}]}
    }


def test_a_lookup_with_an_empty_pipeline() -> None:
    lookup = {"from": "orders", "pipeline": [], "as": "o"}
    assert rewrite([{"$lookup": lookup}]) == [
        SCOPE,
        {"$lookup": {"from": "my_app_orders", "pipeline": [SCOPE], "as": "o"}},
    ]


def test_nested_lookups_are_all_scoped() -> None:
    inner = {"from": "items", "localField": "i", "foreignField": "_id", "as": "items"}
    middle = {"from": "orders", "pipeline": [{"$lookup": inner}], "as": "orders"}
    pipeline = [{"$match": {"x": 1}}, {"$lookup": middle}]
    assert rewrite(pipeline) == [
        SCOPE,
        {"$match": {"x": 1}},
        {
            "$lookup": {
                "from": "my_app_orders",
                "pipeline": [
                    SCOPE,
                    {
                        "$lookup": {
                            "from": "my_app_items",
                            "localField": "i",
                            "foreignField": "_id",
                            "as": "items",
                            "pipeline": [SCOPE],
                        }
                    },
                ],
                "as": "orders",
            }
        },
    ]


def test_a_lookup_sub_pipeline_can_start_with_geo_near() -> None:
    geo = {"near": [0, 0], "distanceField": "d", "query": {"k": 1}}
    lookup = {"from": "places", "pipeline": [{"$geoNear": geo}], "as": "p"}
    assert rewrite([{"$lookup": lookup}]) == [
        SCOPE,
        {
            "$lookup": {
                "from": "my_app_places",
                "pipeline": [{"$geoNear": {**geo, "query": {"$and": [{"k": 1}, {"app_id": APP}]}}}],
                "as": "p",
            }
        },
    ]


@pytest.mark.parametrize("name", ["$out", "$merge"])
def test_a_lookup_sub_pipeline_cannot_write(name: str) -> None:
    lookup = {"from": "orders", "pipeline": [{name: "x"}], "as": "o"}
    with pytest.raises(
        ScopeViolation, match=re.escape(f"{name} is not allowed inside a sub-pipeline")
    ):
        rewrite([{"$lookup": lookup}])


@pytest.mark.parametrize("name", ["$geoNear", "$vectorSearch", "$search"])
def test_a_first_stage_cannot_come_later_in_a_lookup(name: str) -> None:
    lookup = {"from": "orders", "pipeline": [{"$match": {}}, {name: {}}], "as": "o"}
    with pytest.raises(ScopeViolation, match=re.escape(f"{name} is only allowed as the first")):
        rewrite([{"$lookup": lookup}])


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_a_lookup_from_an_invalid_name_is_refused(name: str) -> None:
    with pytest.raises(ScopeViolation, match="invalid collection name"):
        rewrite([{"$lookup": {"from": name, "localField": "a", "foreignField": "b", "as": "o"}}])


@pytest.mark.parametrize("name", NON_STRING_NAMES)
def test_a_lookup_from_a_non_string_is_refused(name: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$lookup 'from' must name a collection"):
        rewrite([{"$lookup": {"from": name, "pipeline": [], "as": "o"}}])


def test_a_lookup_without_from_is_refused() -> None:
    with pytest.raises(
        ScopeViolation, match="\\$lookup must name a collection of the app in 'from'"
    ):
        rewrite([{"$lookup": {"pipeline": [{"$documents": [{"x": 1}]}], "as": "o"}}])


@pytest.mark.parametrize("spec", ["orders", ["orders"], None, 1])
def test_a_lookup_that_is_not_a_document_is_refused(spec: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$lookup takes a document"):
        rewrite([{"$lookup": spec}])


# -- $graphLookup ---------------------------------------------------------------------------

GRAPH = {
    "from": "people",
    "startWith": "$manager",
    "connectFromField": "manager",
    "connectToField": "name",
    "as": "chain",
}


def test_a_graph_lookup_is_restricted_to_the_app() -> None:
    assert rewrite([{"$graphLookup": GRAPH}]) == [
        SCOPE,
        {
            "$graphLookup": {
                **GRAPH,
                "from": "my_app_people",
                "restrictSearchWithMatch": {"app_id": APP},
            }
        },
    ]


@pytest.mark.parametrize(
    ("restrict", "expected"),
    [
        ({}, {"app_id": APP}),
        (None, {"app_id": APP}),
        ({"active": True}, {"$and": [{"active": True}, {"app_id": APP}]}),
        ({"app_id": "other"}, {"$and": [{"app_id": "other"}, {"app_id": APP}]}),
    ],
)
def test_a_graph_lookup_restriction_is_scoped(
    restrict: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    stage = {"$graphLookup": {**GRAPH, "restrictSearchWithMatch": restrict, "maxDepth": 2}}
    assert rewrite([stage]) == [
        SCOPE,
        {
            "$graphLookup": {
                **GRAPH,
                "from": "my_app_people",
                "restrictSearchWithMatch": expected,
                "maxDepth": 2,
            }
        },
    ]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_a_graph_lookup_from_an_invalid_name_is_refused(name: str) -> None:
    with pytest.raises(ScopeViolation, match="invalid collection name"):
        rewrite([{"$graphLookup": {**GRAPH, "from": name}}])


@pytest.mark.parametrize("name", NON_STRING_NAMES)
def test_a_graph_lookup_from_a_non_string_is_refused(name: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$graphLookup 'from' must name a collection"):
        rewrite([{"$graphLookup": {**GRAPH, "from": name}}])


def test_a_graph_lookup_without_from_is_refused() -> None:
    spec = {key: value for key, value in GRAPH.items() if key != "from"}
    with pytest.raises(ScopeViolation, match="\\$graphLookup 'from' must name a collection"):
        rewrite([{"$graphLookup": spec}])


def test_a_graph_lookup_that_is_not_a_document_is_refused() -> None:
    with pytest.raises(ScopeViolation, match="\\$graphLookup takes a document, not str"):
        rewrite([{"$graphLookup": "people"}])


# -- $unionWith -----------------------------------------------------------------------------


def test_a_union_with_a_name_is_scoped() -> None:
    assert rewrite([{"$unionWith": "archive"}]) == [
        SCOPE,
        {"$unionWith": {"coll": "my_app_archive", "pipeline": [SCOPE]}},
    ]


def test_a_union_with_a_document_is_scoped() -> None:
    sub = [{"$match": {"old": True}}, {"$project": {"x": 1}}]
    assert rewrite(
        [{"$match": {"x": 1}}, {"$unionWith": {"coll": "archive", "pipeline": sub}}]
    ) == [
        SCOPE,
        {"$match": {"x": 1}},
        {"$unionWith": {"coll": "my_app_archive", "pipeline": [SCOPE, *sub]}},
    ]


def test_a_union_with_a_document_without_pipeline_is_scoped() -> None:
    assert rewrite([{"$unionWith": {"coll": "archive"}}]) == [
        SCOPE,
        {"$unionWith": {"coll": "my_app_archive", "pipeline": [SCOPE]}},
    ]


def test_nested_unions_and_lookups_are_scoped() -> None:
    lookup = {"from": "c", "localField": "x", "foreignField": "y", "as": "z"}
    pipeline = [
        {"$unionWith": {"coll": "a", "pipeline": [{"$unionWith": "b"}, {"$lookup": lookup}]}}
    ]
    assert rewrite(pipeline) == [
        SCOPE,
        {
            "$unionWith": {
                "coll": "my_app_a",
                "pipeline": [
                    SCOPE,
                    {"$unionWith": {"coll": "my_app_b", "pipeline": [SCOPE]}},
                    {"$lookup": {**lookup, "from": "my_app_c", "pipeline": [SCOPE]}},
                ],
            }
        },
    ]


def test_a_union_sub_pipeline_can_start_with_search() -> None:
    assert rewrite([{"$unionWith": {"coll": "a", "pipeline": [{"$search": {"text": {}}}]}}]) == [
        SCOPE,
        {"$unionWith": {"coll": "my_app_a", "pipeline": [{"$search": {"text": {}}}, SCOPE]}},
    ]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_a_union_with_an_invalid_name_is_refused(name: str) -> None:
    for spec in (name, {"coll": name}):
        with pytest.raises(ScopeViolation, match="invalid collection name"):
            rewrite([{"$unionWith": spec}])


@pytest.mark.parametrize("name", NON_STRING_NAMES)
def test_a_union_with_a_non_string_coll_is_refused(name: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$unionWith 'coll' must name a collection"):
        rewrite([{"$unionWith": {"coll": name}}])


def test_a_union_without_coll_is_refused() -> None:
    with pytest.raises(ScopeViolation, match="\\$unionWith 'coll' must name a collection"):
        rewrite([{"$unionWith": {"pipeline": [{"$documents": [{"x": 1}]}]}}])


@pytest.mark.parametrize("spec", [None, 1, ["archive"]])
def test_a_union_that_is_neither_a_name_nor_a_document_is_refused(spec: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$unionWith takes a document"):
        rewrite([{"$unionWith": spec}])


@pytest.mark.parametrize("name", ["$out", "$merge"])
def test_a_union_sub_pipeline_cannot_write(name: str) -> None:
    with pytest.raises(
        ScopeViolation, match=re.escape(f"{name} is not allowed inside a sub-pipeline")
    ):
        rewrite([{"$unionWith": {"coll": "a", "pipeline": [{name: "x"}]}}])


# -- $facet ---------------------------------------------------------------------------------


def test_facet_branches_are_checked_but_not_rescoped() -> None:
    facet = {
        "count": [{"$count": "n"}],
        "top": [{"$sort": {"x": -1}}, {"$limit": 3}],
        "empty": [],
    }
    assert rewrite([{"$facet": facet}]) == [SCOPE, {"$facet": facet}]
    assert rewrite([{"$match": {"x": 1}}, {"$facet": facet}]) == [
        SCOPE,
        {"$match": {"x": 1}},
        {"$facet": facet},
    ]


def test_facet_branches_have_their_lookups_scoped() -> None:
    lookup = {"from": "orders", "localField": "a", "foreignField": "b", "as": "o"}
    facet = {"with_orders": [{"$lookup": lookup}], "plain": [{"$limit": 1}]}
    assert rewrite([{"$facet": facet}]) == [
        SCOPE,
        {
            "$facet": {
                "with_orders": [
                    {"$lookup": {**lookup, "from": "my_app_orders", "pipeline": [SCOPE]}}
                ],
                "plain": [{"$limit": 1}],
            }
        },
    ]


def test_facet_branches_have_their_unions_scoped() -> None:
    assert rewrite([{"$facet": {"all": [{"$unionWith": "old"}]}}]) == [
        SCOPE,
        {"$facet": {"all": [{"$unionWith": {"coll": "my_app_old", "pipeline": [SCOPE]}}]}},
    ]


@pytest.mark.parametrize("name", ["$out", "$merge"])
def test_a_facet_branch_cannot_write(name: str) -> None:
    for branch in ([{name: "x"}], [{"$match": {}}, {name: "x"}]):
        with pytest.raises(
            ScopeViolation,
            match=re.escape(f"{name} is not allowed inside a sub-pipeline or $facet"),
        ):
            rewrite([{"$facet": {"b": branch}}])


@pytest.mark.parametrize("name", ["$geoNear", "$vectorSearch", "$search"])
def test_a_facet_branch_cannot_start_with_a_first_stage(name: str) -> None:
    # The input of $facet is already scoped: nothing in a branch comes "first".
    with pytest.raises(
        ScopeViolation, match=re.escape(f"{name} is only allowed as the first stage")
    ):
        rewrite([{"$facet": {"b": [{name: {"near": [0, 0], "filter": {}}}]}}])


@pytest.mark.parametrize("spec", [[], "x", None, [{"b": []}]])
def test_a_facet_that_is_not_a_document_is_refused(spec: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$facet takes a document"):
        rewrite([{"$facet": spec}])


@pytest.mark.parametrize("branch", [{"$limit": 1}, "x", None])
def test_a_facet_branch_that_is_not_a_list_is_a_type_error(branch: Any) -> None:
    with pytest.raises(TypeError, match="pipeline must be a list"):
        rewrite([{"$facet": {"b": branch}}])


# -- $out -----------------------------------------------------------------------------------


def test_out_to_a_name_is_stamped_and_mapped() -> None:
    assert rewrite([{"$out": "results"}]) == [SCOPE, STAMP, {"$out": "my_app_results"}]
    assert rewrite([{"$group": {"_id": "$x"}}, {"$out": "results"}]) == [
        SCOPE,
        {"$group": {"_id": "$x"}},
        STAMP,
        {"$out": "my_app_results"},
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {"coll": "results"},
        {"db": DB, "coll": "results"},
        {"db": None, "coll": "results"},
    ],
)
def test_out_to_a_document_stays_in_the_database(spec: dict[str, Any]) -> None:
    assert rewrite([{"$out": spec}]) == [
        SCOPE,
        STAMP,
        {"$out": {"db": DB, "coll": "my_app_results"}},
    ]


def test_out_keeps_its_other_options() -> None:
    spec = {"db": DB, "coll": "series", "timeseries": {"timeField": "t", "metaField": "m"}}
    assert rewrite([{"$out": spec}]) == [
        SCOPE,
        STAMP,
        {"$out": {**spec, "coll": "my_app_series"}},
    ]


@pytest.mark.parametrize("database", ["other_db", "admin", "local", "config", "", 1])
def test_out_to_another_database_is_refused(database: Any) -> None:
    message = f"$out may only write to the app's own database {DB!r}, not {database!r}"
    with pytest.raises(ScopeViolation, match=re.escape(message)):
        rewrite([{"$out": {"db": database, "coll": "results"}}])


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_out_to_an_invalid_name_is_refused(name: str) -> None:
    for spec in (name, {"coll": name}, {"db": DB, "coll": name}):
        with pytest.raises(ScopeViolation, match="invalid collection name"):
            rewrite([{"$out": spec}])


@pytest.mark.parametrize("name", NON_STRING_NAMES)
def test_out_to_a_non_string_coll_is_refused(name: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$out 'coll' must name a collection"):
        rewrite([{"$out": {"db": DB, "coll": name}}])


def test_out_without_coll_is_refused() -> None:
    with pytest.raises(ScopeViolation, match="\\$out 'coll' must name a collection"):
        rewrite([{"$out": {"db": DB}}])


@pytest.mark.parametrize("spec", [None, 1, ["results"]])
def test_out_that_is_neither_a_name_nor_a_document_is_refused(spec: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$out takes a document"):
        rewrite([{"$out": spec}])


@pytest.mark.parametrize("name", ["$out", "$merge"])
def test_an_output_stage_must_be_last(name: str) -> None:
    for pipeline in (
        [{name: "results"}, {"$match": {}}],
        [{"$match": {}}, {name: "results"}, {"$limit": 1}],
        [{name: "a"}, {name: "b"}],
    ):
        with pytest.raises(ScopeViolation, match=re.escape(f"{name} must be the last stage")):
            rewrite(pipeline)


# -- $merge ---------------------------------------------------------------------------------


def test_merge_into_a_name_is_stamped_and_mapped() -> None:
    assert rewrite([{"$merge": "totals"}]) == [
        SCOPE,
        STAMP,
        {"$merge": {"into": "my_app_totals"}},
    ]


def test_merge_keeps_its_options() -> None:
    spec = {
        "into": "totals",
        "on": "_id",
        "whenMatched": "merge",
        "whenNotMatched": "insert",
    }
    assert rewrite([{"$group": {"_id": "$k"}}, {"$merge": spec}]) == [
        SCOPE,
        {"$group": {"_id": "$k"}},
        STAMP,
        {"$merge": {**spec, "into": "my_app_totals"}},
    ]


@pytest.mark.parametrize("into", [{"coll": "totals"}, {"db": DB, "coll": "totals"}])
def test_merge_into_a_document_stays_in_the_database(into: dict[str, Any]) -> None:
    assert rewrite([{"$merge": {"into": into, "whenMatched": "replace"}}]) == [
        SCOPE,
        STAMP,
        {"$merge": {"into": {"db": DB, "coll": "my_app_totals"}, "whenMatched": "replace"}},
    ]


@pytest.mark.parametrize("database", ["other_db", "admin", "local", 1])
def test_merge_into_another_database_is_refused(database: Any) -> None:
    message = f"$merge may only write to the app's own database {DB!r}, not {database!r}"
    with pytest.raises(ScopeViolation, match=re.escape(message)):
        rewrite([{"$merge": {"into": {"db": database, "coll": "totals"}}}])


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_merge_into_an_invalid_name_is_refused(name: str) -> None:
    for spec in (
        name,
        {"into": name},
        {"into": {"coll": name}},
        {"into": {"db": DB, "coll": name}},
    ):
        with pytest.raises(ScopeViolation, match="invalid collection name"):
            rewrite([{"$merge": spec}])


@pytest.mark.parametrize("name", [None, 1, ["totals"]])
def test_merge_into_a_non_string_is_refused(name: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$merge 'into' must name a collection"):
        rewrite([{"$merge": {"into": name}}])
    with pytest.raises(ScopeViolation, match="\\$merge must name a collection"):
        rewrite([{"$merge": {"into": {"coll": name}}}])


def test_merge_without_into_is_refused() -> None:
    with pytest.raises(ScopeViolation, match="\\$merge 'into' must name a collection"):
        rewrite([{"$merge": {"on": "_id"}}])


@pytest.mark.parametrize("spec", [None, 1, ["totals"]])
def test_merge_that_is_neither_a_name_nor_a_document_is_refused(spec: Any) -> None:
    with pytest.raises(ScopeViolation, match="\\$merge takes a document"):
        rewrite([{"$merge": spec}])


def test_a_merge_pipeline_gets_app_id_set_last() -> None:
    when_matched = [{"$set": {"n": {"$add": ["$n", "$$new.n"]}}}, {"$unset": "tmp"}]
    spec = {"into": "totals", "on": "_id", "whenMatched": when_matched, "whenNotMatched": "insert"}
    assert rewrite([{"$merge": spec}]) == [
        SCOPE,
        STAMP,
        {
            "$merge": {
                "into": "my_app_totals",
                "on": "_id",
                "whenMatched": [*when_matched, STAMP],
                "whenNotMatched": "insert",
            }
        },
    ]


def test_a_merge_pipeline_may_be_a_tuple() -> None:
    spec = {"into": "totals", "whenMatched": ({"$set": {"n": 1}},)}
    assert rewrite([{"$merge": spec}])[-1] == {
        "$merge": {"into": "my_app_totals", "whenMatched": [{"$set": {"n": 1}}, STAMP]}
    }


@pytest.mark.parametrize(
    "stage",
    [
        {"$set": {"app_id": "other"}},
        {"$addFields": {"app_id.x": 1}},
        {"$unset": "app_id"},
        {"$unset": ["n", "app_id"]},
    ],
)
def test_a_merge_pipeline_that_sets_app_id_is_refused(stage: dict[str, Any]) -> None:
    with pytest.raises(ScopeViolation, match="is managed by the engine"):
        rewrite([{"$merge": {"into": "totals", "whenMatched": [stage]}}])


@pytest.mark.parametrize("stage", [{"$group": {"_id": 1}}, {"$match": {}}, {"$lookup": {}}])
def test_a_merge_pipeline_takes_update_stages_only(stage: dict[str, Any]) -> None:
    with pytest.raises(ScopeViolation, match="is not allowed in an update pipeline"):
        rewrite([{"$merge": {"into": "totals", "whenMatched": [stage]}}])


# -- stages that must come first ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (None, {"app_id": APP}),
        ({}, {"app_id": APP}),
        ({"kind": "cafe"}, {"$and": [{"kind": "cafe"}, {"app_id": APP}]}),
        ({"app_id": "other"}, {"$and": [{"app_id": "other"}, {"app_id": APP}]}),
    ],
)
def test_geo_near_first_gets_the_scope_in_its_query(
    query: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    geo: dict[str, Any] = {"near": {"type": "Point", "coordinates": [0, 0]}, "distanceField": "d"}
    if query is not None:
        geo["query"] = query
    assert rewrite([{"$geoNear": geo}, {"$limit": 5}]) == [
        {"$geoNear": {**geo, "query": expected}},
        {"$limit": 5},
    ]


@pytest.mark.parametrize(
    ("user_filter", "expected"),
    [
        (None, {"app_id": APP}),
        ({"genre": "drama"}, {"$and": [{"genre": "drama"}, {"app_id": APP}]}),
    ],
)
def test_vector_search_first_gets_the_scope_in_its_filter(
    user_filter: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    search: dict[str, Any] = {
        "index": "vectors",
        "path": "embedding",
        "queryVector": [0.1, 0.2],
        "numCandidates": 100,
        "limit": 10,
    }
    if user_filter is not None:
        search["filter"] = user_filter
    assert rewrite([{"$vectorSearch": search}, {"$project": {"title": 1}}]) == [
        {"$vectorSearch": {**search, "filter": expected}},
        {"$project": {"title": 1}},
    ]


def test_search_first_is_followed_by_the_scope() -> None:
    search = {"index": "default", "text": {"query": "hello", "path": "title"}}
    assert rewrite([{"$search": search}, {"$limit": 5}]) == [
        {"$search": search},
        SCOPE,
        {"$limit": 5},
    ]
    assert rewrite([{"$search": search}]) == [{"$search": search}, SCOPE]


@pytest.mark.parametrize("name", ["$geoNear", "$vectorSearch", "$search"])
def test_a_first_stage_anywhere_else_is_refused(name: str) -> None:
    message = f"{name} is only allowed as the first stage of a pipeline"
    for pipeline in (
        [{"$match": {}}, {name: {}}],
        [{"$limit": 1}, {"$sort": {"x": 1}}, {name: {}}],
        [{name: {}}, {name: {}}],
    ):
        with pytest.raises(ScopeViolation, match=f"^{re.escape(message)}$"):
            rewrite(pipeline)


@pytest.mark.parametrize("name", ["$geoNear", "$vectorSearch"])
@pytest.mark.parametrize("spec", ["x", None, [1]])
def test_a_first_stage_that_is_not_a_document_is_refused(name: str, spec: Any) -> None:
    with pytest.raises(ScopeViolation, match=re.escape(f"{name} takes a document")):
        rewrite([{name: spec}])


def test_a_first_stage_may_be_followed_by_an_output_stage() -> None:
    geo = {"near": [0, 0], "distanceField": "d"}
    assert rewrite([{"$geoNear": geo}, {"$out": "nearby"}]) == [
        {"$geoNear": {**geo, "query": {"app_id": APP}}},
        STAMP,
        {"$out": "my_app_nearby"},
    ]


# -- a property of every rewritten pipeline -------------------------------------------------

VALID_PIPELINES: list[list[dict[str, Any]]] = [
    [],
    [{"$match": {"x": 1}}],
    [{"$lookup": {"from": "o", "localField": "a", "foreignField": "b", "as": "o"}}],
    [{"$lookup": {"from": "o", "as": "o", "pipeline": [{"$lookup": {"from": "p", "as": "p"}}]}}],
    [{"$graphLookup": GRAPH}],
    [{"$unionWith": "u"}, {"$unionWith": {"coll": "v", "pipeline": [{"$unionWith": "w"}]}}],
    [{"$facet": {"a": [{"$lookup": {"from": "o", "as": "o", "pipeline": []}}], "b": []}}],
    [{"$group": {"_id": "$x"}}, {"$out": "r"}],
    [{"$merge": {"into": {"coll": "r"}, "whenMatched": [{"$set": {"x": 1}}]}}],
    [{"$geoNear": {"near": [0, 0], "distanceField": "d"}}],
    [{"$vectorSearch": {"path": "v", "queryVector": [1.0], "limit": 1}}],
    [{"$search": {"text": {}}}, {"$lookup": {"from": "o", "as": "o", "pipeline": []}}],
]


def _walk(pipeline: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    for stage in pipeline:
        ((name, spec),) = stage.items()
        yield name, spec
        if name == "$facet":
            for branch in spec.values():
                yield from _walk(branch)
        elif isinstance(spec, dict) and isinstance(spec.get("pipeline"), list):
            yield from _walk(spec["pipeline"])


def _is_scoped_start(pipeline: list[dict[str, Any]]) -> bool:
    ((name, spec),) = pipeline[0].items()
    if name == "$geoNear":
        return _constrains_app(spec["query"])
    if name == "$vectorSearch":
        return _constrains_app(spec["filter"])
    if name == "$search":
        return pipeline[1] == SCOPE
    return pipeline[0] == SCOPE


def _constrains_app(filter: dict[str, Any]) -> bool:
    return filter == {"app_id": APP} or {"app_id": APP} in filter.get("$and", [])


@pytest.mark.parametrize("pipeline", VALID_PIPELINES)
def test_every_read_of_a_rewritten_pipeline_is_scoped(pipeline: list[dict[str, Any]]) -> None:
    rewritten = rewrite(pipeline)
    assert _is_scoped_start(rewritten)
    for name, spec in _walk(rewritten):
        if name in ("$lookup", "$unionWith"):
            assert (spec.get("from") or spec.get("coll")).startswith("my_app_")
            assert _is_scoped_start(spec["pipeline"])
        if name == "$graphLookup":
            assert spec["from"].startswith("my_app_")
            assert _constrains_app(spec["restrictSearchWithMatch"])
        if name == "$out":
            assert (spec if isinstance(spec, str) else spec["coll"]).startswith("my_app_")
        if name == "$merge":
            into = spec["into"]
            assert (into if isinstance(into, str) else into["coll"]).startswith("my_app_")
    if pipeline_writes(rewritten):
        assert rewritten[-2] == STAMP


# -- pipeline_writes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "writes"),
    [
        ([], False),
        ((), False),
        ([{"$match": {}}], False),
        ([{"$out": "x"}], True),
        ([{"$match": {}}, {"$out": {"coll": "x"}}], True),
        ([{"$merge": "x"}], True),
        ([{"$match": {}}, {"$merge": {"into": "x"}}], True),
        ([{"$out": "x"}, {"$match": {}}], False),
        ([{"$facet": {"a": [{"$out": "x"}]}}], False),
        ([{"$lookup": {"from": "a", "as": "a", "pipeline": [{"$merge": "x"}]}}], False),
    ],
)
def test_pipeline_writes(pipeline: Any, writes: bool) -> None:
    assert pipeline_writes(pipeline) is writes


def test_pipeline_writes_refuses_a_malformed_last_stage() -> None:
    with pytest.raises(ScopeViolation, match="pipeline stage 1 must be a document"):
        pipeline_writes([{"$match": {}}, {"$out": "x", "$merge": "y"}])


@pytest.mark.parametrize("pipeline", [None, "x", {"$out": "x"}])
def test_pipeline_writes_takes_a_list(pipeline: Any) -> None:
    with pytest.raises(TypeError, match="pipeline must be a list"):
        pipeline_writes(pipeline)


# -- referenced_collections -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "names"),
    [
        ([], set()),
        ([{"$match": {"from": "x"}}, {"$limit": 1}], set()),
        (
            [{"$lookup": {"from": "orders", "localField": "a", "foreignField": "b", "as": "o"}}],
            {"orders"},
        ),
        ([{"$graphLookup": GRAPH}], {"people"}),
        ([{"$unionWith": "archive"}], {"archive"}),
        ([{"$unionWith": {"coll": "archive", "pipeline": []}}], {"archive"}),
        ([{"$out": "results"}], {"results"}),
        ([{"$out": {"db": DB, "coll": "results"}}], {"results"}),
        ([{"$merge": "totals"}], {"totals"}),
        ([{"$merge": {"into": "totals"}}], {"totals"}),
        ([{"$merge": {"into": {"db": DB, "coll": "totals"}}}], {"totals"}),
        (
            [
                {
                    "$lookup": {
                        "from": "a",
                        "as": "a",
                        "pipeline": [
                            {"$unionWith": {"coll": "b", "pipeline": [{"$lookup": {"from": "c"}}]}},
                            {"$facet": {"f": [{"$graphLookup": {"from": "d"}}]}},
                        ],
                    }
                }
            ],
            {"a", "b", "c", "d"},
        ),
        ([{"$facet": {"x": [{"$unionWith": "e"}], "y": [{"$lookup": {"from": "f"}}]}}], {"e", "f"}),
        ([{"$unionWith": {"pipeline": [{"$documents": []}]}}], set()),
        ([{"$lookup": {"from": {"db": "other", "coll": "x"}}}], set()),
        ([{"$lookup": "orders"}, {"$graphLookup": "people"}], set()),
        ([{"$facet": "not a facet"}], set()),
        ([{"$unionWith": "a"}, {"$lookup": {"from": "a"}}], {"a"}),
    ],
)
def test_referenced_collections(pipeline: list[dict[str, Any]], names: set[str]) -> None:
    assert referenced_collections(pipeline) == names


def test_referenced_collections_are_logical_names() -> None:
    pipeline = [{"$lookup": {"from": "orders", "as": "o"}}]
    assert referenced_collections(pipeline) == {"orders"}
    assert referenced_collections(rewrite(pipeline)) == {"my_app_orders"}


def test_referenced_collections_refuses_malformed_stages() -> None:
    with pytest.raises(ScopeViolation, match="pipeline stage 0 must be a document"):
        referenced_collections([{"$lookup": {}, "$unionWith": "x"}])
    with pytest.raises(TypeError, match="pipeline must be a list"):
        referenced_collections({"$unionWith": "x"})


# -- change streams -------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [[], ()])
def test_a_change_stream_is_scoped_to_the_app(empty: Any) -> None:
    assert rewrite_change_stream_pipeline(empty, APP) == [CHANGE_SCOPE]


CHANGE_STREAM_EXAMPLES: dict[str, Any] = {
    "$match": {"operationType": "insert"},
    "$project": {"fullDocument": 1},
    "$addFields": {"seen": True},
    "$set": {"seen": True},
    "$unset": "updateDescription",
    "$replaceRoot": {"newRoot": "$fullDocument"},
    "$replaceWith": "$fullDocument",
    "$redact": "$$KEEP",
}


@pytest.mark.parametrize("name", sorted(CHANGE_STREAM_STAGES))
def test_a_change_stream_stage_follows_the_scope(name: str) -> None:
    assert set(CHANGE_STREAM_EXAMPLES) == CHANGE_STREAM_STAGES
    stage = {name: CHANGE_STREAM_EXAMPLES[name]}
    assert rewrite_change_stream_pipeline([stage], APP) == [CHANGE_SCOPE, stage]


def test_a_change_stream_keeps_the_users_order() -> None:
    pipeline = [{"$match": {"operationType": "update"}}, {"$project": {"documentKey": 1}}]
    assert rewrite_change_stream_pipeline(pipeline, APP) == [CHANGE_SCOPE, *pipeline]


@pytest.mark.parametrize(
    "name",
    [
        "$group",
        "$sort",
        "$limit",
        "$lookup",
        "$unionWith",
        "$facet",
        "$out",
        "$merge",
        "$changeStream",
        "$currentOp",
        "$documents",
        "$geoNear",
        "$bogus",
    ],
)
def test_other_stages_are_refused_in_a_change_stream(name: str) -> None:
    message = f"{name!r} is not allowed in a change stream (allowed: "
    for pipeline in ([{name: {}}], [{"$match": {}}, {name: {}}]):
        with pytest.raises(ScopeViolation, match=re.escape(message)):
            rewrite_change_stream_pipeline(pipeline, APP)


@pytest.mark.parametrize(
    ("stage", "operator"),
    [
        ({"$match": {"$where": "true"}}, "$where"),
        ({"$match": {"$expr": {"$function": FUNCTION}}}, "$function"),
        ({"$addFields": {"x": {"$function": FUNCTION}}}, "$function"),
        ({"$project": {"x": {"$accumulator": ACCUMULATOR}}}, "$accumulator"),
    ],
)
def test_server_javascript_is_refused_in_a_change_stream(
    stage: dict[str, Any], operator: str
) -> None:
    message = f"{operator} is not allowed in a scoped change stream"
    with pytest.raises(ScopeViolation, match=re.escape(message)):
        rewrite_change_stream_pipeline([stage], APP)


@pytest.mark.parametrize("stage", [{}, {"$match": {}, "$project": {}}, "$match", None])
def test_a_malformed_change_stream_stage_is_refused(stage: Any) -> None:
    with pytest.raises(ScopeViolation, match="pipeline stage 0 must be a document"):
        rewrite_change_stream_pipeline([stage], APP)


@pytest.mark.parametrize("pipeline", [None, {"$match": {}}, "x"])
def test_a_change_stream_pipeline_must_be_a_list(pipeline: Any) -> None:
    with pytest.raises(TypeError, match="pipeline must be a list"):
        rewrite_change_stream_pipeline(pipeline, APP)


def test_a_namespace_filter_narrows_a_database_stream() -> None:
    namespaces = {"ns.coll": {"$regex": "^my_app_"}}
    assert rewrite_change_stream_pipeline(
        [{"$match": {"operationType": "insert"}}], APP, namespace_filter=namespaces
    ) == [
        {
            "$match": {
                "$and": [
                    {"ns.coll": {"$regex": "^my_app_"}},
                    {"fullDocument.app_id": {"$in": [APP, None]}},
                ]
            }
        },
        {"$match": {"operationType": "insert"}},
    ]


@pytest.mark.parametrize("empty", [None, {}])
def test_an_empty_namespace_filter_adds_nothing(empty: dict[str, Any] | None) -> None:
    assert rewrite_change_stream_pipeline([], APP, namespace_filter=empty) == [CHANGE_SCOPE]


def test_the_namespace_filter_is_copied() -> None:
    namespaces = SON([("ns.coll", "my_app_tasks")])
    rewritten = rewrite_change_stream_pipeline([], APP, namespace_filter=namespaces)
    assert rewritten[0]["$match"]["$and"][0] == {"ns.coll": "my_app_tasks"}
    assert rewritten[0]["$match"]["$and"][0] is not namespaces


# -- no mutation ----------------------------------------------------------------------------

NON_MUTATION_PIPELINES: list[Any] = [
    *VALID_PIPELINES,
    [{"$match": {"x": 1}}, {"$project": {"x": 1}}],
    [{"$out": {"db": DB, "coll": "r"}}],
    [{"$merge": {"into": "r", "whenMatched": ({"$set": {"x": 1}},)}}],
    [{"$geoNear": {"near": [0, 0], "distanceField": "d", "query": {"k": 1}}}],
    [{"$vectorSearch": {"filter": {"genre": "drama"}, "limit": 1}}],
    [{"$graphLookup": {**GRAPH, "restrictSearchWithMatch": {"a": 1}}}],
    [{"$match": {"$where": "true"}}],
    [{"$lookup": {"from": "$cmd", "as": "o"}}],
    [{"$out": {"db": "other", "coll": "r"}}],
    [{"$merge": {"into": "r", "whenMatched": [{"$set": {"app_id": 1}}]}}],
    [{"$facet": {"a": [{"$out": "x"}]}}],
    [{"$currentOp": {}}],
    [{"$bogus": {}}],
    [{"$match": {}, "$limit": 1}],
    [{"$match": {}}, {"$geoNear": {"near": [0, 0]}}],
    {"$match": {}},
]
PIPELINE_FUNCTIONS: list[Callable[[Any], Any]] = [
    rewrite,
    pipeline_writes,
    referenced_collections,
    lambda pipeline: rewrite_change_stream_pipeline(pipeline, APP),
    lambda pipeline: rewrite_change_stream_pipeline(pipeline, APP, namespace_filter={"ns.db": DB}),
]


@pytest.mark.parametrize("function", PIPELINE_FUNCTIONS)
@pytest.mark.parametrize("pipeline", NON_MUTATION_PIPELINES)
def test_pipelines_are_never_mutated(pipeline: Any, function: Callable[[Any], Any]) -> None:
    before = copy.deepcopy(pipeline)
    with contextlib.suppress(ScopeViolation, TypeError):
        function(pipeline)
    assert pipeline == before
    assert type(pipeline) is type(before)


def test_the_rewritten_pipeline_does_not_share_the_scope_between_calls() -> None:
    first = rewrite([])
    first[0]["$match"]["app_id"] = "tampered"
    assert rewrite([]) == [SCOPE]
