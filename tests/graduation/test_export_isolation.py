"""An export holds one app: never another app's data, never the engine's own collections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bson
import pytest
from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine
from mdb_engine.errors import GraduationError
from mdb_engine.graduation import export_app
from mdb_engine.testing import CommandLog
from tests.graduation.conftest import RawClient

# Commands that read documents or collection lists, and what they may name.
READS = ("find", "aggregate", "listCollections", "listIndexes", "count", "distinct", "getMore")


def entries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def plain_manifest(slug: str) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": slug,
        "name": slug.title(),
        "managed_indexes": {"tasks": [{"keys": {"owner": 1}}]},
        "initial_data": {"tags": [{"name": slug}]},
    }


async def test_the_export_of_one_app_holds_nothing_of_another(
    engine: MongoDBEngine,
    mongo_client: RawClient,
    mongodb_uri: str,
    mongodb_database: str,
    tmp_path: Path,
) -> None:
    for slug in ("shop", "blog"):
        await engine.register_app(plain_manifest(slug))
        await engine.get_scoped_db(slug).tasks.insert_many(
            [{"owner": f"{slug}-{n}", "secret": f"{slug} data"} for n in range(20)]
        )
    await engine.get_scoped_db("blog").only_blog.insert_one({"secret": "blog data"})
    # A stray document that breaks the sandbox invariant (written around the engine): the
    # export reads with the app's scope, so it is not taken along.
    await mongo_client[mongodb_database]["shop_tasks"].insert_one(
        {"app_id": "blog", "secret": "blog data"}
    )
    log = CommandLog()
    client: RawClient = AsyncMongoClient(mongodb_uri, event_listeners=[log])
    try:
        result = await export_app(client[mongodb_database], "shop", tmp_path / "dump")
    finally:
        await client.close()

    assert entries(tmp_path / "dump" / mongodb_database) == [
        "shop_tags.bson",
        "shop_tags.metadata.json",
        "shop_tasks.bson",
        "shop_tasks.metadata.json",
    ]
    assert [item.document_count for item in result.collections] == [1, 20]
    for bson_file in (tmp_path / "dump" / mongodb_database).glob("*.bson"):
        documents = bson.decode_all(bson_file.read_bytes())
        assert {document["app_id"] for document in documents} == {"shop"}
        assert all("blog" not in repr(document) for document in documents)
    assert "blog" not in (tmp_path / "dump" / "manifest.json").read_text()

    # Proof from the wire: every read named one of shop's collections with shop's scope, or
    # the registry (for the manifest).
    for record in log.named(*READS):
        if record.name == "getMore":
            assert record.command["collection"].startswith("shop_")
        elif record.name == "listCollections":
            assert record.command["filter"] == {"name": {"$regex": "^shop_"}}
        elif record.collection == "_mdb_engine_apps":
            assert record.name == "find"
        else:
            assert record.collection is not None
            assert record.collection.startswith("shop_"), record
            if record.name == "find":
                assert record.command["filter"] == {"app_id": "shop"}


async def test_an_unknown_app_or_a_used_directory_is_refused(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str, tmp_path: Path
) -> None:
    database = mongo_client[mongodb_database]
    with pytest.raises(GraduationError, match="'ghost' is not registered and has no collections"):
        await export_app(database, "ghost", tmp_path / "dump")
    with pytest.raises(GraduationError, match="not a valid app slug"):
        await export_app(database, "Bad Slug", tmp_path / "dump")
    await engine.register_app(plain_manifest("shop"))
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(GraduationError, match="already exists and is not an empty directory"):
        await export_app(database, "shop", tmp_path / "used")
    assert entries(tmp_path) == ["used"]  # no partial export left behind
    with pytest.raises(GraduationError, match="does not exist; create it first"):
        await export_app(database, "shop", tmp_path / "missing" / "dump")
    (tmp_path / "empty").mkdir()
    await export_app(database, "shop", tmp_path / "empty")  # an empty directory is fine
    assert (tmp_path / "empty" / "manifest.json").is_file()


async def test_a_refused_stripped_export_leaves_no_directory(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str, tmp_path: Path
) -> None:
    manifest = plain_manifest("shop")
    manifest["managed_indexes"]["tasks"].append(
        {"keys": {"owner": 1, "at": 1}, "partialFilterExpression": {"app_id": {"$exists": True}}}
    )
    await engine.register_app(manifest)
    with pytest.raises(GraduationError, match="uses app_id in its partial filter"):
        await export_app(
            mongo_client[mongodb_database], "shop", tmp_path / "dump", strip_prefix=True
        )
    assert entries(tmp_path) == []


async def test_views_and_time_series_are_reported_not_exported(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str, tmp_path: Path
) -> None:
    await engine.register_app(
        {
            **plain_manifest("shop"),
            "collection_settings": {"metrics": {"timeseries": {"timeField": "at"}}},
        }
    )
    database = mongo_client[mongodb_database]
    await database.create_collection("shop_open_tasks", viewOn="shop_tasks", pipeline=[])
    result = await export_app(database, "shop", tmp_path / "dump")
    assert [item.name for item in result.collections] == ["tags", "tasks"]
    assert result.notes == (
        "metrics: a timeseries is not exported (export its source data instead)",
        "open_tasks: a view is not exported (export its source data instead)",
    )
