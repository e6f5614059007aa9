"""Pure bulk_write rules: every PyMongo request type scoped like its single operation.

``scope_requests`` reads PyMongo's private request slots, so every request type and option is
covered here: a change in PyMongo must fail these tests rather than silently drop an option.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from bson import SON, ObjectId, encode
from bson.raw_bson import RawBSONDocument
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.collation import Collation

from mdb_engine.database.bulk import scope_requests
from mdb_engine.errors import ScopeViolation

APP = "my_app"
SCOPED = {"app_id": APP}
FINAL_SET = {"$set": {"app_id": APP}}
COLLATION = Collation(locale="fr", strength=2)
OID = ObjectId("0123456789ab0123456789ab")


def scoped(filter: dict[str, Any]) -> dict[str, Any]:
    return {"$and": [filter, SCOPED]}


# -- each request type ----------------------------------------------------------------------


def test_insert_one_is_tagged_and_gets_an_id_as_pymongo_does() -> None:
    document = {"x": 1}
    (request,) = scope_requests([InsertOne(document)], APP)
    assert type(request) is InsertOne
    assert isinstance(document["_id"], ObjectId)
    assert request == InsertOne({"x": 1, "app_id": APP, "_id": document["_id"]})
    assert document == {"x": 1, "_id": document["_id"]}  # only _id was added


def test_insert_one_keeps_the_callers_id() -> None:
    document = {"_id": OID, "x": 1}
    (request,) = scope_requests([InsertOne(document)], APP)
    assert request == InsertOne({"_id": OID, "x": 1, "app_id": APP})
    assert document == {"_id": OID, "x": 1}


def test_insert_one_with_the_apps_own_id_is_accepted() -> None:
    document = {"_id": 1, "app_id": APP}
    assert scope_requests([InsertOne(document)], APP) == [InsertOne({"_id": 1, "app_id": APP})]
    assert document == {"_id": 1, "app_id": APP}


def test_insert_one_with_a_raw_bson_document() -> None:
    # PyMongo inserts a RawBSONDocument as it is, without setting _id on it (it is immutable).
    document = RawBSONDocument(encode({"x": 1}))
    (request,) = scope_requests([InsertOne(document)], APP)
    assert {key: value for key, value in request._doc.items() if key != "_id"} == {
        "x": 1,
        "app_id": APP,
    }
    assert dict(document) == {"x": 1}


def test_the_same_document_inserted_twice_gets_one_id_as_pymongo_does() -> None:
    # PyMongo sets _id on the first InsertOne's document, so the second sends the same _id
    # (and the server reports a duplicate key).
    document = {"x": 1}
    first, second = scope_requests([InsertOne(document), InsertOne(document)], APP)
    assert first._doc["_id"] == second._doc["_id"] == document["_id"]


def test_update_one_keeps_every_option() -> None:
    request = UpdateOne(
        {"x": 1},
        {"$set": {"y": 2}},
        upsert=True,
        collation=COLLATION,
        array_filters=[{"e.k": 1}],
        hint=[("x", 1)],
        sort={"x": -1},
    )
    assert scope_requests([request], APP) == [
        UpdateOne(
            scoped({"x": 1}),
            {"$set": {"y": 2}},
            upsert=True,
            collation=COLLATION,
            array_filters=[{"e.k": 1}],
            hint=[("x", 1)],
            sort={"x": -1},
        )
    ]


def test_update_one_defaults() -> None:
    (request,) = scope_requests([UpdateOne({}, {"$inc": {"n": 1}})], APP)
    assert type(request) is UpdateOne
    assert request == UpdateOne(SCOPED, {"$inc": {"n": 1}})
    assert request._upsert is None
    assert request._collation is None
    assert request._array_filters is None
    assert request._hint is None
    assert request._sort is None


def test_update_one_with_a_pipeline_sets_app_id_last() -> None:
    request = UpdateOne({"x": 1}, [{"$set": {"y": "$x"}}], upsert=True)
    assert scope_requests([request], APP) == [
        UpdateOne(scoped({"x": 1}), [{"$set": {"y": "$x"}}, FINAL_SET], upsert=True)
    ]


def test_update_many_keeps_every_option() -> None:
    request = UpdateMany(
        {"x": {"$gt": 1}},
        {"$set": {"y": 2}},
        upsert=False,
        collation=COLLATION,
        array_filters=[{"e": 1}],
        hint="x_1",
    )
    (result,) = scope_requests([request], APP)
    assert type(result) is UpdateMany
    assert result == UpdateMany(
        scoped({"x": {"$gt": 1}}),
        {"$set": {"y": 2}},
        upsert=False,
        collation=COLLATION,
        array_filters=[{"e": 1}],
        hint="x_1",
    )


def test_update_many_with_a_pipeline_sets_app_id_last() -> None:
    assert scope_requests([UpdateMany({}, [{"$unset": "tmp"}])], APP) == [
        UpdateMany(SCOPED, [{"$unset": "tmp"}, FINAL_SET])
    ]


def test_replace_one_keeps_every_option() -> None:
    request = ReplaceOne(
        {"_id": 1},
        {"x": 2},
        upsert=True,
        collation=COLLATION,
        hint={"x": 1},
        sort={"x": 1},
    )
    (result,) = scope_requests([request], APP)
    assert type(result) is ReplaceOne
    assert result == ReplaceOne(
        scoped({"_id": 1}),
        {"x": 2, "app_id": APP},
        upsert=True,
        collation=COLLATION,
        hint={"x": 1},
        sort={"x": 1},
    )


@pytest.mark.parametrize("request_type", [DeleteOne, DeleteMany])
def test_deletes_keep_every_option(request_type: type[DeleteOne] | type[DeleteMany]) -> None:
    request = request_type({"x": 1}, collation=COLLATION, hint="x_1")
    (result,) = scope_requests([request], APP)
    assert type(result) is request_type
    assert result == request_type(scoped({"x": 1}), collation=COLLATION, hint="x_1")


@pytest.mark.parametrize("request_type", [DeleteOne, DeleteMany])
def test_a_delete_with_an_empty_filter_deletes_only_the_apps(
    request_type: type[DeleteOne] | type[DeleteMany],
) -> None:
    assert scope_requests([request_type({})], APP) == [request_type(SCOPED)]


def test_a_mixed_batch_keeps_its_order_and_types() -> None:
    document = {"x": 1}
    requests = [
        InsertOne(document),
        UpdateOne({"x": 1}, {"$set": {"y": 1}}),
        UpdateMany({}, {"$inc": {"n": 1}}),
        ReplaceOne({"x": 1}, {"x": 2}),
        DeleteOne({"x": 2}),
        DeleteMany({"y": 1}),
    ]
    assert scope_requests(requests, APP) == [
        InsertOne({"x": 1, "app_id": APP, "_id": document["_id"]}),
        UpdateOne(scoped({"x": 1}), {"$set": {"y": 1}}),
        UpdateMany(SCOPED, {"$inc": {"n": 1}}),
        ReplaceOne(scoped({"x": 1}), {"x": 2, "app_id": APP}),
        DeleteOne(scoped({"x": 2})),
        DeleteMany(scoped({"y": 1})),
    ]


def test_the_requests_may_be_a_tuple_and_the_result_is_a_new_list() -> None:
    requests = (DeleteOne({}),)
    result = scope_requests(requests, APP)
    assert result == [DeleteOne(SCOPED)]
    assert type(result) is list


def test_no_requests() -> None:
    assert scope_requests([], APP) == []


def test_each_new_document_gets_its_own_id() -> None:
    documents = [{"n": n} for n in range(3)]
    result = scope_requests([InsertOne(document) for document in documents], APP)
    ids = [document["_id"] for document in documents]
    assert len(set(ids)) == 3
    assert [request._doc["_id"] for request in result] == ids


# -- refusals -------------------------------------------------------------------------------

REFUSED_REQUESTS: list[tuple[Any, str]] = [
    (InsertOne({"x": 1, "app_id": "other_app"}), "app_id='other_app'"),
    (UpdateOne({"$where": "true"}, {"$set": {"x": 1}}), "$where is not allowed"),
    (UpdateOne({}, {"$set": {"app_id": "other_app"}}), "is managed by the engine"),
    (UpdateOne({}, {"$rename": {"x": "app_id"}}), "is managed by the engine"),
    (UpdateOne({}, [{"$unset": "app_id"}]), "is managed by the engine"),
    (UpdateOne({}, [{"$match": {}}]), "is not allowed in an update pipeline"),
    (UpdateMany({}, {"$unset": {"app_id.x": ""}}), "is managed by the engine"),
    (UpdateMany({"$expr": {"$function": {}}}, {"$set": {"x": 1}}), "$function is not allowed"),
    (ReplaceOne({}, {"app_id": "other_app"}), "app_id='other_app'"),
    (ReplaceOne({"$where": "1"}, {"x": 1}), "$where is not allowed"),
    (DeleteOne({"$where": "true"}), "$where is not allowed"),
    (DeleteMany({"$or": [{"$where": "true"}]}), "$where is not allowed"),
    (InsertOne({"x": 1}, namespace="db.other_app_tasks"), "may not name a namespace"),
    (UpdateOne({}, {"$set": {"x": 1}}, namespace="db.c"), "may not name a namespace"),
    (UpdateMany({}, {"$set": {"x": 1}}, namespace="db.c"), "may not name a namespace"),
    (ReplaceOne({}, {"x": 1}, namespace="db.c"), "may not name a namespace"),
    (DeleteOne({}, namespace="db.c"), "may not name a namespace"),
    (DeleteMany({}, namespace="db.c"), "may not name a namespace"),
]


@pytest.mark.parametrize(("request_", "message"), REFUSED_REQUESTS)
def test_a_request_out_of_scope_is_refused(request_: Any, message: str) -> None:
    with pytest.raises(ScopeViolation, match=re.escape(message)):
        scope_requests([request_], APP)


@pytest.mark.parametrize(("request_", "message"), REFUSED_REQUESTS)
def test_a_refused_request_leaves_earlier_documents_without_an_id(
    request_: Any, message: str
) -> None:
    first, second = {"x": 1}, {"y": 2}
    requests = [InsertOne(first), DeleteOne({}), InsertOne(second), request_, InsertOne({"z": 3})]
    with pytest.raises(ScopeViolation, match=re.escape(message)):
        scope_requests(requests, APP)
    assert first == {"x": 1}
    assert second == {"y": 2}


@pytest.mark.parametrize("request_", [{"insertOne": {"x": 1}}, "x", None, 1, object()])
def test_something_that_is_not_a_request_is_a_type_error(request_: Any) -> None:
    document = {"x": 1}
    with pytest.raises(TypeError, match="is not a valid request"):
        scope_requests([InsertOne(document), request_], APP)
    assert document == {"x": 1}


@pytest.mark.parametrize(
    "requests",
    ["abc", b"abc", None, 1, {"a": InsertOne({})}, iter([InsertOne({})]), frozenset()],
)
def test_the_requests_must_be_a_list(requests: Any) -> None:
    with pytest.raises(TypeError, match="requests must be a list"):
        scope_requests(requests, APP)


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (UpdateOne({}, {"x": 1}), ValueError),
        (UpdateOne({}, {}), ValueError),
        (UpdateMany({}, []), ValueError),
        (ReplaceOne({}, {"$set": {"x": 1}}), ValueError),
    ],
)
def test_requests_pymongo_would_not_send_raise_its_own_errors(
    request_: Any, error: type[Exception]
) -> None:
    document = {"x": 1}
    with pytest.raises(error):
        scope_requests([InsertOne(document), request_], APP)
    assert document == {"x": 1}


# -- no mutation ----------------------------------------------------------------------------


def _requests() -> Iterator[tuple[str, list[Any]]]:
    yield "updates", [UpdateOne({"x": {"$in": [1, 2]}}, {"$set": {"y": {"z": [1]}}})]
    yield "pipeline", [UpdateMany({"x": 1}, [{"$set": {"y": 1}}, {"$unset": ["z"]}])]
    yield "replace", [ReplaceOne({"x": 1}, {"x": 2, "nested": {"a": [1]}}, upsert=True)]
    yield "deletes", [DeleteOne({"x": 1}), DeleteMany(SON([("y", {"$gt": 1})]))]
    yield (
        "refused",
        [UpdateOne({"x": 1}, {"$set": {"x": 1}}), UpdateOne({}, {"$unset": {"app_id": 1}})],
    )
    yield "foreign", [ReplaceOne({"x": 1}, {"x": 2}), ReplaceOne({}, {"app_id": "other"})]


@pytest.mark.parametrize(("name", "requests"), list(_requests()))
def test_filters_updates_and_replacements_are_never_mutated(name: str, requests: list[Any]) -> None:
    slots = [
        copy.deepcopy(
            (
                getattr(request, "_filter", None),
                getattr(request, "_doc", None),
                getattr(request, "_array_filters", None),
                getattr(request, "_sort", None),
            )
        )
        for request in requests
    ]
    before = copy.deepcopy(requests)
    try:
        scope_requests(requests, APP)
    except ScopeViolation:
        assert name in ("refused", "foreign")
    else:
        assert name not in ("refused", "foreign")
    assert requests == before
    assert [
        (
            getattr(request, "_filter", None),
            getattr(request, "_doc", None),
            getattr(request, "_array_filters", None),
            getattr(request, "_sort", None),
        )
        for request in requests
    ] == slots


def test_only_id_is_added_to_insert_documents() -> None:
    documents = [{"x": 1, "nested": {"a": [1, 2]}}, {"_id": 5, "y": 2}, {"z": {"app_idx": 1}}]
    before = copy.deepcopy(documents)
    scope_requests([InsertOne(document) for document in documents], APP)
    for document, original in zip(documents, before, strict=True):
        added = {key: value for key, value in document.items() if key not in original}
        assert list(added) == ([] if "_id" in original else ["_id"])
        assert {key: document[key] for key in original} == original
