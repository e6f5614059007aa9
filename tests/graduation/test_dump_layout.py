"""The files are what mongodump writes and mongorestore reads; mongodump's own dumps import.

No ``mongorestore`` binary can be installed on this machine (no MongoDB Database Tools package
in Debian or on PyPI's mirrors here, no Go module proxy), so the layout is checked against what
mongodump 100.x writes (``mongodump/metadata_dump.go`` and mongorestore's test fixtures).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from mdb_engine import MongoDBEngine
from mdb_engine.errors import DumpError
from mdb_engine.graduation import export_app, import_app, read_dump
from tests.graduation.conftest import RawClient, fill_shop, snapshot

RAW = CodecOptions(document_class=RawBSONDocument)


def entries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def test_the_export_is_in_mongodumps_layout(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str, tmp_path: Path
) -> None:
    await fill_shop(engine)
    await export_app(mongo_client[mongodb_database], "shop", tmp_path / "dump")
    root = tmp_path / "dump"
    # mongorestore restores each directory as a database and skips the two top-level files.
    assert entries(root) == sorted(["manifest.json", "mdb_engine_export.json", mongodb_database])
    database = mongo_client[mongodb_database]
    infos = {
        info["name"]: info
        async for info in await database.list_collections(filter={"name": {"$regex": "^shop_"}})
    }
    expected_files = sorted(
        f"{name}{suffix}" for name in infos for suffix in (".bson", ".metadata.json")
    )
    assert entries(root / mongodb_database) == expected_files
    for name, info in infos.items():
        text = (root / mongodb_database / f"{name}.metadata.json").read_text()
        assert "\n" not in text
        metadata = json_util.loads(text)
        keys = ["indexes", "uuid", "collectionName", "type"]
        assert list(metadata) == (["options", *keys] if info["options"] else keys)
        assert metadata["collectionName"] == name
        assert metadata["type"] == "collection"
        assert metadata["uuid"] == bytes(info["info"]["uuid"]).hex()
        assert metadata.get("options", {}) == info["options"]
        listed = [dict(index) async for index in await database[name].list_indexes()]
        assert metadata["indexes"] == listed
        stored = [
            document.raw
            async for document in database.get_collection(name, codec_options=RAW).find({})
        ]
        assert (root / mongodb_database / f"{name}.bson").read_bytes() == b"".join(stored)
    registered = await database["_mdb_engine_apps"].find_one({"_id": "shop"})
    assert registered is not None
    assert json.loads((root / "manifest.json").read_text()) == registered["manifest"]
    info_file = json.loads((root / "mdb_engine_export.json").read_text())
    assert info_file["format"] == "mdb-engine-export/1"
    assert (info_file["slug"], info_file["database"], info_file["strip_prefix"]) == (
        "shop",
        mongodb_database,
        False,
    )


def mongodump_query(uri: str, database: str, query: dict[str, Any], out: Path) -> None:
    """What the seed's command writes when run once per collection of the database
    (``mongodump --db=DB --collection=C --query=QUERY --out=OUT``: mongodump 100.x refuses
    ``--query`` without ``--collection``): every collection, filtered by the query, so other
    apps' and the engine's collections are there, empty."""
    client: MongoClient[Any] = MongoClient(uri)
    try:
        target = out / database
        target.mkdir(parents=True)
        for info in client[database].list_collections():
            name = info["name"]
            collection = client[database].get_collection(name, codec_options=RAW)
            (target / f"{name}.bson").write_bytes(
                b"".join(document.raw for document in collection.find(query))
            )
            metadata: dict[str, Any] = {}
            if info["options"]:
                metadata["options"] = info["options"]
            metadata["indexes"] = list(client[database][name].list_indexes())
            metadata["uuid"] = bytes(info["info"]["uuid"]).hex()
            metadata["collectionName"] = name
            metadata["type"] = info["type"]
            (target / f"{name}.metadata.json").write_text(
                json_util.dumps(metadata, json_options=json_util.CANONICAL_JSON_OPTIONS)
            )
        (out / "prelude.json").write_text('{"ServerVersion": "6.0.5"}')  # newer mongodumps
    finally:
        client.close()


async def test_the_seeds_mongodump_query_output_imports_with_source_slug(
    engine: MongoDBEngine,
    target_engine: MongoDBEngine,
    target_client: RawClient,
    mongo_client: RawClient,
    mongodb_uri: str,
    mongodb_database: str,
    target_database: str,
    tmp_path: Path,
) -> None:
    await fill_shop(engine)
    await engine.register_app({"schema_version": "2.0", "slug": "blog", "name": "Blog"})
    await engine.get_scoped_db("blog").posts.insert_one({"title": "hello"})
    mongodump_query(mongodb_uri, mongodb_database, {"app_id": "shop"}, tmp_path / "export")

    with pytest.raises(DumpError, match="pass the app's slug as --source-slug"):
        read_dump(tmp_path / "export")

    source = await snapshot(mongo_client, mongodb_database, "shop_")
    result = await import_app(
        target_client[target_database], tmp_path / "export", "shop", source_slug="shop"
    )
    assert not result.is_registered  # a plain mongodump carries no manifest
    skipped = "\n".join(result.skipped)
    assert "blog_posts: not a collection of app 'shop'" in skipped
    assert "_mdb_engine_apps: not a collection of app 'shop'" in skipped
    assert "prelude.json" not in skipped  # top-level files are not looked at
    assert await snapshot(mongo_client, target_database, "shop_") == source

    # The manifest can come from elsewhere: registered, nothing seeded twice, nothing built.
    await mongo_client.drop_database(target_database)
    manifest = engine.get_manifest("shop")
    assert manifest is not None
    result = await import_app(
        target_client[target_database],
        tmp_path / "export",
        "shop",
        registrar=target_engine,
        source_slug="shop",
        manifest=manifest.to_document(),
    )
    assert result.is_registered
    assert await snapshot(mongo_client, target_database, "shop_") == source


async def test_a_dump_of_several_databases_needs_source_db(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str, tmp_path: Path
) -> None:
    await fill_shop(engine)
    await export_app(mongo_client[mongodb_database], "shop", tmp_path / "dump", strip_prefix=True)
    (tmp_path / "dump" / "mdb_engine_export.json").unlink()
    (tmp_path / "dump" / "admin").mkdir()
    (tmp_path / "dump" / "admin" / "system.version.bson").write_bytes(bson.encode({"_id": "x"}))
    with pytest.raises(DumpError, match=r"holds 2 database directories \(admin, shop\)"):
        read_dump(tmp_path / "dump")
    dump = read_dump(tmp_path / "dump", source_db="shop")
    assert not dump.is_prefixed
    assert "tasks" in [item.name for item in dump.collections]
    with pytest.raises(DumpError, match="has no database directory 'nope'"):
        read_dump(tmp_path / "dump", source_db="nope")
