"""export -> import into a fresh database: the same bytes, the same indexes, the same options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mdb_engine import MongoDBEngine
from mdb_engine.core.registry_store import REGISTRY_COLLECTION
from mdb_engine.graduation import export_app, import_app, import_plain, loading
from mdb_engine.graduation.raw_bson import get_field, with_string_field, without_field
from mdb_engine.testing import CommandLog
from tests.graduation.conftest import RawClient, fill_shop, snapshot, write_dump

APP_COLLECTIONS = ["empty", "log", "people", "places", "strict", "tags", "tasks", "users"]
BUILDING_COMMANDS = ("create", "createIndexes", "insert", "delete", "collMod")


async def test_round_trip_keeps_every_byte_index_and_option(
    engine: MongoDBEngine,
    target_engine: MongoDBEngine,
    target_client: RawClient,
    target_log: CommandLog,
    mongo_client: RawClient,
    mongodb_database: str,
    target_database: str,
    tmp_path: Path,
) -> None:
    await fill_shop(engine)
    source = await snapshot(mongo_client, mongodb_database, "shop_")
    assert sorted(source) == APP_COLLECTIONS

    exported = await export_app(mongo_client[mongodb_database], "shop", tmp_path / "dump")
    assert [item.name for item in exported.collections] == APP_COLLECTIONS
    assert exported.collections[APP_COLLECTIONS.index("tasks")].document_count == 30

    target_log.clear()
    result = await import_app(
        target_client[target_database], tmp_path / "dump", "shop", registrar=target_engine
    )
    assert result.is_registered
    assert await snapshot(mongo_client, target_database, "shop_") == source

    # Registering the imported app found its indexes as declared and its data seeded: outside
    # the import's own staging collections, nothing was created, built or inserted.
    built = [
        (record.name, record.collection)
        for record in target_log.named(*BUILDING_COMMANDS)
        if not str(record.collection).startswith("_mdb_engine_")
    ]
    assert built == []
    plans = [await each.plan_indexes("shop") for each in (engine, target_engine)]
    actions = [sorted((c.collection, c.name, c.action.value) for c in p.changes) for p in plans]
    assert actions[0] == actions[1]
    assert {action for _, _, action in actions[1]} == {"unchanged", "extra"}  # extra: "empty"
    registered = await mongo_client[target_database][REGISTRY_COLLECTION].find_one({"_id": "shop"})
    original = await mongo_client[mongodb_database][REGISTRY_COLLECTION].find_one({"_id": "shop"})
    assert registered is not None
    assert original is not None
    assert registered["fingerprint"] == original["fingerprint"]
    assert await target_engine.get_scoped_db("shop").tags.count_documents({}) == 2


async def test_import_under_another_slug_retags_app_id_in_place(
    engine: MongoDBEngine,
    target_engine: MongoDBEngine,
    target_client: RawClient,
    mongo_client: RawClient,
    mongodb_database: str,
    target_database: str,
    tmp_path: Path,
) -> None:
    await fill_shop(engine)
    source = await snapshot(mongo_client, mongodb_database, "shop_")
    await export_app(mongo_client[mongodb_database], "shop", tmp_path / "dump")

    await import_app(
        target_client[target_database], tmp_path / "dump", "outlet", registrar=target_engine
    )
    imported = await snapshot(mongo_client, target_database, "outlet_")
    assert sorted(imported) == APP_COLLECTIONS
    for name, state in source.items():
        retagged = [with_string_field(raw, "app_id", "outlet") for raw in state.documents]
        assert imported[name].documents == retagged, name
        assert imported[name].indexes == state.indexes, name
        assert imported[name].options == state.options, name
    assert target_engine.get_manifest("outlet") is not None
    users = target_engine.get_scoped_db("outlet").users
    assert await users.count_documents({"email": "demo@example.com"}) == 1


async def test_stripped_round_trip_into_the_engine_and_into_a_plain_database(
    engine: MongoDBEngine,
    target_engine: MongoDBEngine,
    target_client: RawClient,
    mongo_client: RawClient,
    mongodb_database: str,
    target_database: str,
    tmp_path: Path,
) -> None:
    await fill_shop(engine)
    source = await snapshot(mongo_client, mongodb_database, "shop_")
    exported = await export_app(
        mongo_client[mongodb_database], "shop", tmp_path / "dump", strip_prefix=True
    )
    assert exported.database == "shop"
    assert (tmp_path / "dump" / "shop" / "tasks.bson").is_file()

    # Back into an engine: app_id is appended as the last field, where the engine's inserts
    # put it; the users store's upserts put it second, so only those documents move it.
    await import_app(
        target_client[target_database], tmp_path / "dump", "shop", registrar=target_engine
    )
    imported = await snapshot(mongo_client, target_database, "shop_")
    assert sorted(imported) == APP_COLLECTIONS
    for name, state in source.items():
        documents = imported[name].documents
        assert [without_field(raw, "app_id") for raw in documents] == [
            without_field(raw, "app_id") for raw in state.documents
        ]
        assert {get_field(raw, "app_id") for raw in documents} <= {(True, "shop")}
        if name != "users":
            assert documents == state.documents, name
        assert imported[name].indexes == state.indexes, name
        assert imported[name].options == state.options, name

    # Into any database: plain names, documents without app_id, the same indexes.
    plain_name = f"{target_database}_plain"
    try:
        result = await import_plain(target_client[plain_name], tmp_path / "dump")
        assert [item.target for item in result.collections] == APP_COLLECTIONS
        plain = await snapshot(mongo_client, plain_name)
        assert sorted(plain) == APP_COLLECTIONS
        for name, state in source.items():
            assert plain[name].documents == [
                without_field(raw, "app_id") for raw in state.documents
            ]
            assert plain[name].indexes == state.indexes, name
            assert plain[name].options == state.options, name
    finally:
        await mongo_client.drop_database(plain_name)


async def test_a_prefixed_dump_loads_as_plain_collections_with_documents_as_dumped(
    engine: MongoDBEngine,
    target_client: RawClient,
    target_log: CommandLog,
    mongo_client: RawClient,
    mongodb_database: str,
    target_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await fill_shop(engine)
    source = await snapshot(mongo_client, mongodb_database, "shop_")
    await export_app(mongo_client[mongodb_database], "shop", tmp_path / "dump")
    monkeypatch.setattr(loading, "BATCH_DOCUMENTS", 7)
    await import_plain(target_client[target_database], tmp_path / "dump")
    # Ordered insert_many batches into the staging collection, never one by one.
    inserts = [
        record.command
        for record in target_log.named("insert")
        if str(record.collection).endswith("_tasks")
    ]
    assert [len(command["documents"]) for command in inserts] == [7, 7, 7, 7, 2]
    assert all(command["ordered"] for command in inserts)
    assert all(str(command["insert"]).startswith("_mdb_engine_import_") for command in inserts)
    plain = await snapshot(mongo_client, target_database)
    assert {name: state.documents for name, state in plain.items()} == {
        name: state.documents for name, state in source.items()
    }


async def test_app_id_indexes_are_rewritten_for_a_stripped_dump(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str, tmp_path: Path
) -> None:
    manifest: dict[str, Any] = {
        "schema_version": "2.0",
        "slug": "counter",
        "name": "Counter",
        "managed_indexes": {
            "hits": [
                {"keys": {"app_id": 1, "page": 1}},
                {
                    "keys": {"visitor": 1},
                    "unique": True,
                    "partialFilterExpression": {"app_id": "counter", "visitor": {"$exists": True}},
                    "name": "one_per_visitor",
                },
            ]
        },
    }
    await engine.register_app(manifest)
    await engine.get_scoped_db("counter").hits.insert_one({"page": "/", "visitor": "v1"})
    result = await export_app(
        mongo_client[mongodb_database], "counter", tmp_path / "dump", strip_prefix=True
    )
    assert result.collections[0].index_names == ("_id_", "page_1", "one_per_visitor")
    text = (tmp_path / "dump" / "counter" / "hits.metadata.json").read_text()
    assert "app_id" not in text


async def test_a_foreign_validator_is_made_to_allow_app_id(
    target_engine: MongoDBEngine, target_client: RawClient, target_database: str, tmp_path: Path
) -> None:
    schema = {"bsonType": "object", "properties": {"_id": {}, "label": {}}}
    strict = {"validator": {"$jsonSchema": {**schema, "additionalProperties": False}}}
    metadata = json.dumps({"options": strict, "indexes": []})
    root = write_dump(tmp_path, {"labels": [{"label": "a"}]}, metadata={"labels": metadata})
    await import_app(target_client[target_database], root, "tagger")
    await target_engine.register_app({"schema_version": "2.0", "slug": "tagger", "name": "T"})
    labels = target_engine.get_scoped_db("tagger").labels
    await labels.insert_one({"label": "b"})  # app_id is allowed by the schema
    assert await labels.count_documents({}) == 2
