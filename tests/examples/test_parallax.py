"""examples/parallax: schema inference (pure), then infer/apply/drift over HTTP on a real mongod,
in process and through `mdb-engine serve examples/parallax`."""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
import uuid
from types import ModuleType
from typing import Any

import httpx
import pytest
from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from pymongo import AsyncMongoClient, MongoClient

from tests.examples.conftest import EXAMPLES
from tests.host.conftest import Host

PARALLAX = EXAMPLES / "parallax"
BASE = "/apps/parallax"


def load(module: str) -> ModuleType:
    """One of the example's pure helper modules, imported from its file."""
    spec = importlib.util.spec_from_file_location(f"parallax_{module}", PARALLAX / f"{module}.py")
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


inference = load("inference")
drift = load("drift")
documents = load("documents")
infer_schema = inference.infer_schema

PEOPLE = [
    {
        "name": "Ada",
        "age": 36,
        "born": "1815-12-10T00:00:00Z",
        "address": {"city": "London", "zip": "W1"},
        "tags": ["math", "poetry"],
    },
    {
        "name": "Alan",
        "age": 41,
        "born": "1912-06-23T00:00:00Z",
        "address": {"city": "Wilmslow"},
        "tags": [],
    },
    {
        "name": "Grace",
        "age": 85,
        "born": "1906-12-09T00:00:00Z",
        "address": {"city": "Arlington"},
        "tags": ["navy"],
        "nickname": None,
    },
]
PEOPLE_SCHEMA = {
    "bsonType": "object",
    "required": ["_id", "name", "age", "born", "address", "tags"],
    "properties": {
        "_id": {"bsonType": "objectId"},
        "name": {"bsonType": "string"},
        "age": {"bsonType": "int"},
        "born": {"bsonType": "date"},
        "address": {
            "bsonType": "object",
            "required": ["city"],
            "properties": {"city": {"bsonType": "string"}, "zip": {"bsonType": "string"}},
        },
        "tags": {"bsonType": "array", "items": {"bsonType": "string"}},
        "nickname": {"bsonType": "null"},
    },
}
EDSGER = {
    "name": "Edsger",
    "age": 72,
    "born": "1930-05-11T00:00:00Z",
    "address": {"city": "Nuenen"},
    "tags": ["structured"],
}
BOB = {  # an age that is not an int
    "name": "Bob",
    "age": "forty",
    "born": "1980-01-01T00:00:00Z",
    "address": {"city": "Leeds"},
    "tags": [],
}


# --- inference: pure -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (True, "bool"),
        (7, "int"),
        (-(2**31), "int"),
        (2**31, "long"),
        (Int64(7), "long"),
        (1.5, "double"),
        (Decimal128("1.5"), "decimal"),
        ("text", "string"),
        (datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc), "date"),
        (ObjectId(), "objectId"),
        (None, "null"),
        ({"a": 1}, "object"),
        ([1], "array"),
        (b"\x00", "binData"),
        (Binary(b"\x00", 4), "binData"),
        (uuid.uuid4(), "binData"),
        (Regex("^a"), "regex"),
        (re.compile("^a"), "regex"),
        (Timestamp(1, 1), "timestamp"),
        (Code("return 1"), "javascript"),
        (MinKey(), "minKey"),
        (MaxKey(), "maxKey"),
    ],
)
def test_each_value_gets_its_bson_type_name(value: Any, name: str) -> None:
    assert inference.bson_type_name(value) == name


def test_a_value_bson_cannot_store_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="set"):
        inference.bson_type_name({1, 2})


def test_required_lists_the_fields_present_in_every_document() -> None:
    schema = infer_schema([{"a": 1, "b": "x"}, {"a": 2}, {"a": 3, "c": True}])
    assert schema == {
        "bsonType": "object",
        "required": ["a"],
        "properties": {
            "a": {"bsonType": "int"},
            "b": {"bsonType": "string"},
            "c": {"bsonType": "bool"},
        },
    }


def test_a_field_seen_with_several_types_gets_a_union_in_a_fixed_order() -> None:
    first = infer_schema([{"v": None}, {"v": "x"}, {"v": 1.5}, {"v": 1}])
    second = infer_schema([{"v": 1}, {"v": 1.5}, {"v": "x"}, {"v": None}])
    assert first["properties"]["v"] == {"bsonType": ["string", "int", "double", "null"]}
    assert second == first


def test_nested_objects_get_properties_and_their_own_required() -> None:
    schema = infer_schema(
        [
            {"address": {"city": "A", "geo": {"lat": 1.0, "lng": 2.0}}},
            {"address": {"city": "B", "zip": "Z", "geo": {"lat": 3.0}}},
        ]
    )
    assert schema["properties"]["address"] == {
        "bsonType": "object",
        "required": ["city", "geo"],
        "properties": {
            "city": {"bsonType": "string"},
            "geo": {
                "bsonType": "object",
                "required": ["lat"],
                "properties": {"lat": {"bsonType": "double"}, "lng": {"bsonType": "double"}},
            },
            "zip": {"bsonType": "string"},
        },
    }


def test_array_items_merge_every_element_of_every_array() -> None:
    schema = infer_schema(
        [
            {"tags": ["a", 1], "lines": [{"sku": "x", "qty": 1}, {"sku": "y"}], "empty": []},
            {"tags": [], "lines": [{"sku": "z", "qty": Int64(2)}], "empty": []},
        ]
    )
    properties = schema["properties"]
    assert properties["tags"] == {"bsonType": "array", "items": {"bsonType": ["string", "int"]}}
    assert properties["lines"] == {
        "bsonType": "array",
        "items": {
            "bsonType": "object",
            "required": ["sku"],
            "properties": {"sku": {"bsonType": "string"}, "qty": {"bsonType": ["int", "long"]}},
        },
    }
    assert properties["empty"] == {"bsonType": "array"}  # no element: nothing said of items


def test_the_engines_app_id_is_left_out_but_a_nested_one_is_data() -> None:
    schema = infer_schema([{"app_id": "parallax", "name": "x", "ref": {"app_id": "other"}}])
    assert "app_id" not in schema["properties"]
    assert schema["required"] == ["name", "ref"]
    assert schema["properties"]["ref"]["properties"] == {"app_id": {"bsonType": "string"}}


def test_strict_closes_every_object() -> None:
    schema = infer_schema([{"a": {"b": [{"c": 1}]}}], strict=True)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["a"]["additionalProperties"] is False
    assert schema["properties"]["a"]["properties"]["b"]["items"]["additionalProperties"] is False


def test_no_document_or_a_non_document_is_refused() -> None:
    with pytest.raises(ValueError, match="no documents"):
        infer_schema([])
    with pytest.raises(TypeError, match="mapping"):
        infer_schema([["not", "a", "document"]])


async def test_mongodb_accepts_the_schema_and_every_sample_matches_it(
    mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str
) -> None:
    """The type names are MongoDB's: the server parses the schema and matches the samples."""
    samples = [
        {
            "i": 1,
            "l": Int64(2),
            "d": 1.5,
            "m": Decimal128("2.5"),
            "b": True,
            "t": datetime.datetime(2024, 5, 1),
            "o": {"x": [1, "y", {"z": None}]},
            "bin": Binary(b"\x01"),
            "r": Regex("^a"),
            "ts": Timestamp(1, 2),
            "js": Code("return 1"),
            "lo": MinKey(),
            "hi": MaxKey(),
        },
        {"i": "one", "o": {"x": []}, "extra": ObjectId()},
    ]
    collection = mongo_client[mongodb_database]["samples"]
    await collection.insert_many(samples)
    stored = await collection.find().to_list()
    for strict in (False, True):
        schema = infer_schema(stored, strict=strict)
        assert await collection.count_documents({"$jsonSchema": schema}) == len(samples)
    schema = infer_schema(stored)
    assert await collection.count_documents({"$nor": [{"$jsonSchema": schema}]}) == 0
    await collection.insert_one({"i": 1.5})  # a type never seen, and required fields missing
    assert await collection.count_documents({"$nor": [{"$jsonSchema": schema}]}) == 1


# --- drift and documents: pure ----------------------------------------------------------------


def test_schema_fields_name_nested_and_array_fields_by_path() -> None:
    schema = infer_schema(
        [{"app_id": "p", "a": {"b": 1}, "tags": ["x"], "lines": [{"sku": "s"}]}], strict=True
    )
    schema["properties"]["app_id"] = {"bsonType": "string"}  # as the engine stores it
    assert drift.schema_fields(schema) == {
        "a": {"bsonType": ["object"], "required": True},
        "a.b": {"bsonType": ["int"], "required": True},
        "tags": {"bsonType": ["array"], "required": True},
        "tags[]": {"bsonType": ["string"], "required": False},
        "lines": {"bsonType": ["array"], "required": True},
        "lines[]": {"bsonType": ["object"], "required": False},
        "lines[].sku": {"bsonType": ["string"], "required": True},
    }


def test_new_fields_counts_the_documents_holding_each_undescribed_field() -> None:
    schema = infer_schema([{"a": 1, "o": {"b": 1}}])
    recent = [
        {"app_id": "p", "a": 1, "o": {"b": 1, "c": 2}, "email": "x"},
        {"a": 2, "email": "y", "list": [{"k": 1}]},
        {"a": 3},
    ]
    assert drift.new_fields(recent, schema) == [
        {"path": "email", "documents": 2},
        {"path": "list", "documents": 1},
        {"path": "list[]", "documents": 1},
        {"path": "list[].k", "documents": 1},
        {"path": "o.c", "documents": 1},
    ]


def test_schema_diff_lists_added_removed_and_changed_fields() -> None:
    applied = infer_schema([{"a": 1, "b": "x", "gone": True}])
    fresh = infer_schema([{"a": "1", "b": "x", "new": 1}, {"a": 2, "new": 2}])
    assert drift.schema_diff(applied, fresh) == {
        "added": [{"path": "new", "bsonType": ["int"], "required": True}],
        "removed": [{"path": "gone", "bsonType": ["bool"], "required": True}],
        "changed": [
            {
                "path": "a",
                "applied": {"bsonType": ["int"], "required": True},
                "inferred": {"bsonType": ["int", "string"], "required": True},
            },
            {
                "path": "b",
                "applied": {"bsonType": ["string"], "required": True},
                "inferred": {"bsonType": ["string"], "required": False},
            },
        ],
    }
    assert drift.schema_diff(applied, applied) == {"added": [], "removed": [], "changed": []}


def test_bodies_are_extended_json_and_iso_strings_become_utc_dates() -> None:
    body = json.dumps(
        {
            "when": "2024-05-01T12:00:00+02:00",
            "naive": "2024-05-01T10:00",
            "day": "2024-05-01",
            "not_a_date": "2024-13-01T10:00:00Z",
            "n": {"$numberLong": "7"},
            "price": {"$numberDecimal": "9.99"},
            "nested": [{"at": "2024-05-01T10:00:00.250Z"}],
        }
    ).encode()
    (parsed,) = documents.parse_documents(body)
    utc = datetime.timezone.utc
    assert parsed["when"] == datetime.datetime(2024, 5, 1, 10, tzinfo=utc)
    assert parsed["naive"] == datetime.datetime(2024, 5, 1, 10, tzinfo=utc)
    assert parsed["day"] == "2024-05-01"
    assert parsed["not_a_date"] == "2024-13-01T10:00:00Z"
    assert inference.bson_type_name(parsed["n"]) == "long"
    assert parsed["price"] == Decimal128("9.99")
    assert parsed["nested"][0]["at"] == datetime.datetime(2024, 5, 1, 10, 0, 0, 250000, utc)
    (kept,) = documents.parse_documents(body, parse_dates=False)
    assert kept["when"] == "2024-05-01T12:00:00+02:00"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not valid"),
        (b"[]", "empty"),
        (b"[1, 2]", "document 0 is not a JSON object"),
        (b'"text"', "document 0 is not a JSON object"),
        (b'{"_id": {"$oid": "nope"}}', "not valid"),
        (b'{"price": {"$numberDecimal": "cheap"}}', "not valid"),
        (b'{"at": {"$date": "someday"}}', "not valid"),
        (json.dumps([{}] * 1001).encode(), "at most 1000"),
    ],
)
def test_a_body_that_is_not_documents_is_refused(body: bytes, problem: str) -> None:
    with pytest.raises(documents.BadDocuments, match=problem):
        documents.parse_documents(body)


# --- over HTTP, in process --------------------------------------------------------------------


async def add(client: httpx.AsyncClient, collection: str, body: Any) -> httpx.Response:
    return await client.post(f"{BASE}/collections/{collection}/documents", json=body)


async def stored(
    mongo_client: AsyncMongoClient[dict[str, Any]], database: str, physical: str
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        await mongo_client[database][physical].find().sort("_id", 1).to_list()
    )
    return found


async def server_options(
    mongo_client: AsyncMongoClient[dict[str, Any]], database: str, physical: str
) -> dict[str, Any]:
    cursor = await mongo_client[database].list_collections(filter={"name": physical})
    (info,) = await cursor.to_list()
    options: dict[str, Any] = info["options"]
    return options


async def test_infer_apply_then_the_server_refuses_what_does_not_match(
    host: Host, mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str
) -> None:
    _, client = await host(PARALLAX)
    response = await add(client, "people", PEOPLE)
    assert response.status_code == 201, response.text
    assert response.json()["inserted"] == 3
    people = await stored(mongo_client, mongodb_database, "parallax_people")
    assert [person["app_id"] for person in people] == ["parallax"] * 3
    assert people[0]["born"] == datetime.datetime(1815, 12, 10)

    inferred = await client.post(f"{BASE}/collections/people/schema/infer")
    assert inferred.status_code == 200, inferred.text
    assert inferred.json() == {"collection": "people", "sampled": 3, "schema": PEOPLE_SCHEMA}
    assert "validator" not in await server_options(
        mongo_client, mongodb_database, "parallax_people"
    )

    applied = await client.post(f"{BASE}/collections/people/schema/apply", json={"schema": "infer"})
    assert applied.status_code == 200, applied.text
    options = await server_options(mongo_client, mongodb_database, "parallax_people")
    assert options["validator"] == {"$jsonSchema": PEOPLE_SCHEMA}
    assert (options["validationLevel"], options["validationAction"]) == ("strict", "error")
    current = (await client.get(f"{BASE}/collections/people/schema")).json()
    assert current == {
        "collection": "people",
        "validator": {"$jsonSchema": PEOPLE_SCHEMA},
        "validationLevel": "strict",
        "validationAction": "error",
    }

    assert (await add(client, "people", EDSGER)).status_code == 201
    refused = await add(client, "people", BOB)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert (detail["index"], detail["stored"]) == (0, 0)
    assert detail["errInfo"]["details"]["operatorName"] == "$jsonSchema"
    assert '"propertyName": "age"' in json.dumps(detail["errInfo"]["details"])
    names = [p["name"] for p in await stored(mongo_client, mongodb_database, "parallax_people")]
    assert names == ["Ada", "Alan", "Grace", "Edsger"]

    batch = await add(client, "people", [{**EDSGER, "name": "E2"}, BOB, {**EDSGER, "name": "E3"}])
    assert batch.status_code == 422
    assert (batch.json()["detail"]["index"], batch.json()["detail"]["stored"]) == (1, 1)
    names = [p["name"] for p in await stored(mongo_client, mongodb_database, "parallax_people")]
    assert names == ["Ada", "Alan", "Grace", "Edsger", "E2"]

    drifted = (await client.get(f"{BASE}/collections/people/drift")).json()
    assert drifted["non_conforming"] == {"count": 0, "examples": []}
    assert drifted["new_fields"] == []


async def test_with_warn_a_non_conforming_document_is_stored_and_shows_as_drift(
    host: Host, mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str
) -> None:
    _, client = await host(PARALLAX)
    await add(client, "people", PEOPLE)
    applied = await client.post(
        f"{BASE}/collections/people/schema/apply",
        json={"schema": "infer", "validationAction": "warn", "validationLevel": "moderate"},
    )
    assert applied.status_code == 200, applied.text
    options = await server_options(mongo_client, mongodb_database, "parallax_people")
    assert (options["validationLevel"], options["validationAction"]) == ("moderate", "warn")

    assert (await add(client, "people", BOB)).status_code == 201
    assert (await add(client, "people", {**EDSGER, "email": "ed@example.org"})).status_code == 201
    people = await stored(mongo_client, mongodb_database, "parallax_people")
    assert [p["name"] for p in people][-2:] == ["Bob", "Edsger"]

    drifted = (await client.get(f"{BASE}/collections/people/drift")).json()
    assert drifted["sampled"] == 5
    assert drifted["non_conforming"]["count"] == 1
    (example,) = drifted["non_conforming"]["examples"]
    assert (example["name"], example["age"], "app_id" in example) == ("Bob", "forty", False)
    assert drifted["new_fields"] == [{"path": "email", "documents": 1}]
    assert drifted["diff"]["added"] == [
        {"path": "email", "bsonType": ["string"], "required": False}
    ]
    assert drifted["diff"]["removed"] == []
    assert drifted["diff"]["changed"] == [
        {
            "path": "age",
            "applied": {"bsonType": ["int"], "required": True},
            "inferred": {"bsonType": ["int", "string"], "required": True},
        }
    ]


async def test_a_strict_schema_refuses_new_fields_but_allows_the_engines_app_id(
    host: Host, mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str
) -> None:
    _, client = await host(PARALLAX)
    await add(client, "people", PEOPLE)
    applied = await client.post(
        f"{BASE}/collections/people/schema/apply", json={"schema": "infer", "strict": True}
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["source"] == "infer"
    options = await server_options(mongo_client, mongodb_database, "parallax_people")
    schema = options["validator"]["$jsonSchema"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["app_id"] == {"bsonType": "string"}  # added by the engine

    assert (await add(client, "people", EDSGER)).status_code == 201  # stored with its app_id
    refused = await add(client, "people", {**EDSGER, "email": "ed@example.org"})
    assert refused.status_code == 422
    assert len(await stored(mongo_client, mongodb_database, "parallax_people")) == 4

    given = {"bsonType": "object", "required": ["name"]}
    replaced = await client.post(
        f"{BASE}/collections/people/schema/apply", json={"schema": {"$jsonSchema": given}}
    )
    assert replaced.status_code == 200, replaced.text
    options = await server_options(mongo_client, mongodb_database, "parallax_people")
    assert options["validator"] == {"$jsonSchema": given}
    history = (await client.get(f"{BASE}/collections/people/schema/history")).json()
    assert [version["source"] for version in history] == ["given", "infer"]
    assert history[0]["validator"] == {"$jsonSchema": given}
    assert history[1]["validator"]["$jsonSchema"]["additionalProperties"] is False
    listed = (await client.get(f"{BASE}/collections")).json()
    assert listed == [{"collection": "people", "has_validator": True}]


async def test_a_schema_applied_to_a_new_collection_creates_it_with_the_validator(
    host: Host, mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str
) -> None:
    _, client = await host(PARALLAX)
    schema = {
        "bsonType": "object",
        "required": ["sku"],
        "properties": {"sku": {"bsonType": "string"}},
    }
    applied = await client.post(
        f"{BASE}/collections/products/schema/apply", json={"schema": schema}
    )
    assert applied.status_code == 200, applied.text
    options = await server_options(mongo_client, mongodb_database, "parallax_products")
    assert options["validator"] == {"$jsonSchema": schema}
    assert (await add(client, "products", {"sku": "A1"})).status_code == 201
    assert (await add(client, "products", {"name": "no sku"})).status_code == 422
    assert [
        p["sku"] for p in await stored(mongo_client, mongodb_database, "parallax_products")
    ] == ["A1"]


async def test_bad_requests_get_clear_client_errors(
    host: Host, mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str
) -> None:
    _, client = await host(PARALLAX)
    url = f"{BASE}/collections"
    not_json = await client.post(f"{url}/people/documents", content=b"{oops")
    assert not_json.status_code == 400
    assert "not valid" in not_json.json()["detail"]
    assert (await client.post(f"{url}/people/documents", json=[1])).status_code == 400
    foreign = await add(client, "people", {"name": "x", "app_id": "board"})
    assert foreign.status_code == 400
    assert (await add(client, "a$b", {"x": 1})).status_code == 400
    assert (await add(client, "schema_versions", {"x": 1})).status_code == 400
    assert (await client.post(f"{url}/people/schema/infer")).status_code == 404
    assert (await client.get(f"{url}/people/schema")).status_code == 404
    assert (await client.get(f"{url}/people/drift")).status_code == 404

    await add(client, "people", PEOPLE)
    assert (await client.get(f"{url}/people/drift")).status_code == 409
    duplicate = await add(client, "people", {"_id": 1, "name": "one"})
    assert duplicate.status_code == 201
    assert (await add(client, "people", {"_id": 1, "name": "again"})).status_code == 409
    bad_level = await client.post(
        f"{url}/people/schema/apply", json={"schema": "infer", "validationLevel": "loose"}
    )
    assert bad_level.status_code == 422
    assert (await client.post(f"{url}/people/schema/apply", json={"schema": 3})).status_code == 422
    assert (
        await client.post(f"{url}/people/schema/infer", json={"sample_size": 0})
    ).status_code == (422)
    bad_schema = await client.post(
        f"{url}/people/schema/apply", json={"schema": {"bsonType": "no-such-type"}}
    )
    assert bad_schema.status_code == 400
    assert "no-such-type" in bad_schema.json()["detail"]["errmsg"]
    assert "validator" not in await server_options(
        mongo_client, mongodb_database, "parallax_people"
    )


# --- through `mdb-engine serve examples/parallax` ---------------------------------------------


def test_the_served_app_validates_its_own_physical_collection_only(
    serve: Any, mongodb_uri: str, mongodb_database: str
) -> None:
    """A logical name that looks like another app's collection is still parallax's own."""
    raw: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        database = raw[mongodb_database]
        database["board_items"].insert_one({"title": "keep me", "app_id": "board"})
        base = serve(PARALLAX, "--mongo-uri", mongodb_uri, "--db", mongodb_database)
        with httpx.Client(base_url=f"{base}{BASE}", timeout=30) as client:
            assert client.post("/collections/board_items/documents", json=PEOPLE).status_code == 201
            applied = client.post("/collections/board_items/schema/apply", json={"schema": "infer"})
            assert applied.status_code == 200, applied.text
            assert client.post("/collections/board_items/documents", json=EDSGER).status_code == 201
            refused = client.post("/collections/board_items/documents", json=BOB)
            assert refused.status_code == 422
            assert refused.json()["detail"]["errInfo"]["details"]["operatorName"] == "$jsonSchema"

        infos = {info["name"]: info["options"] for info in database.list_collections()}
        assert infos["parallax_board_items"]["validator"] == {"$jsonSchema": PEOPLE_SCHEMA}
        assert "validator" not in infos["board_items"]
        assert list(database["board_items"].find({}, {"_id": 0})) == [
            {"title": "keep me", "app_id": "board"}
        ]
        mine = list(database["parallax_board_items"].find())
        assert [doc["name"] for doc in mine] == ["Ada", "Alan", "Grace", "Edsger"]
        assert {doc["app_id"] for doc in mine} == {"parallax"}
    finally:
        raw.close()
