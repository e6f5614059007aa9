"""A damaged dump, a taken slug or a failure half-way: refused or undone, nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import BulkWriteError

from mdb_engine import MongoDBEngine
from mdb_engine.errors import DumpError, GraduationError, ImportConflict, IndexConflict
from mdb_engine.graduation import export_app, import_app, import_plain
from mdb_engine.testing import CommandLog
from tests.graduation.conftest import RawClient, fill_shop, server_state

WRITES = ("create", "createIndexes", "insert", "update", "delete", "renameCollection", "drop")


@pytest.fixture
async def dump(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str, tmp_path: Path
) -> Path:
    await fill_shop(engine)
    await export_app(mongo_client[mongodb_database], "shop", tmp_path / "dump")
    return tmp_path / "dump"


async def seeded_target(engine: MongoDBEngine) -> None:
    """A target engine that already serves another app, with data and a seed marker."""
    await engine.register_app(
        {
            "schema_version": "2.0",
            "slug": "blog",
            "name": "Blog",
            "initial_data": {"posts": [{"title": "hello"}]},
        }
    )


def truncate(path: Path, by: int) -> None:
    path.write_bytes(path.read_bytes()[:-by])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root, db: truncate(db / "shop_tasks.bson", 7), "is cut off"),
        (lambda root, db: truncate(db / "shop_tasks.bson", 1), "is cut off"),
        (
            lambda root, db: (db / "shop_people.metadata.json").write_text('{"indexes": [{'),
            "not valid Extended JSON",
        ),
        (
            lambda root, db: (db / "shop_people.metadata.json").write_text(
                '{"indexes": [{"key": {}, "name": "x"}]}'
            ),
            "indexes[0] has no 'key' object",
        ),
        (lambda root, db: (root / "manifest.json").write_text("{"), "cannot be read as JSON"),
        (
            lambda root, db: (root / "manifest.json").write_text('{"schema_version": "2.0"}'),
            "is not a valid manifest for app 'shop'",
        ),
    ],
    ids=[
        "bson-cut-7",
        "bson-cut-1",
        "metadata-json",
        "metadata-index",
        "manifest-json",
        "manifest",
    ],
)
async def test_a_damaged_dump_is_refused_before_anything_is_written(
    dump: Path,
    target_engine: MongoDBEngine,
    target_client: RawClient,
    target_log: CommandLog,
    mongo_client: RawClient,
    mongodb_database: str,
    target_database: str,
    damage: Any,
    message: str,
) -> None:
    damage(dump, dump / mongodb_database)
    await seeded_target(target_engine)
    before = await server_state(mongo_client, target_database)
    target_log.clear()

    with pytest.raises(DumpError) as caught:
        await import_app(target_client[target_database], dump, "shop", registrar=target_engine)

    assert message in str(caught.value)
    assert str(dump) in str(caught.value)  # which file
    assert caught.value.hint  # how to fix it
    assert target_log.named(*WRITES) == []  # refused before the first write
    assert await server_state(mongo_client, target_database) == before
    assert target_engine.get_app("shop") is None


async def test_a_failure_while_loading_drops_everything_loaded(
    dump: Path,
    target_engine: MongoDBEngine,
    target_client: RawClient,
    mongo_client: RawClient,
    mongodb_database: str,
    target_database: str,
) -> None:
    # A document twice: the second insert fails on the unique _id, after other collections
    # were already staged.
    tasks = dump / mongodb_database / "shop_tasks.bson"
    data = tasks.read_bytes()
    tasks.write_bytes(data + data[: int.from_bytes(data[:4], "little")])
    await seeded_target(target_engine)
    before = await server_state(mongo_client, target_database)

    with pytest.raises(BulkWriteError):
        await import_app(target_client[target_database], dump, "shop", registrar=target_engine)

    assert await server_state(mongo_client, target_database) == before


async def test_a_failed_plain_import_drops_everything_loaded(
    dump: Path,
    target_client: RawClient,
    target_log: CommandLog,
    mongo_client: RawClient,
    mongodb_database: str,
    target_database: str,
) -> None:
    tasks = dump / mongodb_database / "shop_tasks.bson"
    data = tasks.read_bytes()
    tasks.write_bytes(data + data[: int.from_bytes(data[:4], "little")])
    await target_client[target_database]["unrelated"].insert_one({"keep": True})

    with pytest.raises(BulkWriteError):
        await import_plain(target_client[target_database], dump)

    assert target_log.named("renameCollection") == []
    assert await target_client[target_database].list_collection_names() == ["unrelated"]


async def test_a_failed_registration_undoes_the_whole_import(
    dump: Path,
    target_engine: MongoDBEngine,
    target_client: RawClient,
    mongo_client: RawClient,
    target_database: str,
) -> None:
    # The dump's manifest now declares a different index under an existing name: registering
    # it is an IndexConflict, after every collection was renamed into place.
    manifest = json.loads((dump / "manifest.json").read_text())
    manifest["managed_indexes"]["tasks"][0]["keys"] = {"status": -1}
    # ...and a collection the registration creates itself before it fails.
    manifest["collection_settings"]["extra"] = {"collation": {"locale": "de"}}
    (dump / "manifest.json").write_text(json.dumps(manifest))
    await seeded_target(target_engine)
    before = await server_state(mongo_client, target_database)

    with pytest.raises(IndexConflict):
        await import_app(target_client[target_database], dump, "shop", registrar=target_engine)

    assert await server_state(mongo_client, target_database) == before
    assert target_engine.get_app("shop") is None
    assert target_engine.list_apps() == ["blog"]


async def test_an_app_with_data_or_a_registered_app_is_never_mixed_into(
    dump: Path,
    target_engine: MongoDBEngine,
    target_client: RawClient,
    target_log: CommandLog,
    mongo_client: RawClient,
    target_database: str,
) -> None:
    await seeded_target(target_engine)
    target = target_client[target_database]
    with pytest.raises(ImportConflict, match=r"app 'blog' already has collections .*blog_posts"):
        await import_app(target, dump, "blog", registrar=target_engine)

    await target_engine.register_app({"schema_version": "2.0", "slug": "outlet", "name": "O"})
    with pytest.raises(ImportConflict, match="app 'outlet' is already registered"):
        await import_app(target, dump, "outlet", registrar=target_engine)

    await target_engine.register_app({"schema_version": "2.0", "slug": "shop_eu", "name": "EU"})
    with pytest.raises(ImportConflict, match=r"would share collection names with .*'shop_eu'"):
        await import_app(target, dump, "shop", registrar=target_engine)

    with pytest.raises(GraduationError, match="not a valid app slug"):
        await import_app(target, dump, "Shop!", registrar=target_engine)

    before = await server_state(mongo_client, target_database)
    await target["tasks"].insert_one({"mine": True})
    with pytest.raises(ImportConflict, match=r"already has the collection\(s\) tasks"):
        await import_plain(target, dump)
    after = await server_state(mongo_client, target_database)
    assert after["collections"] == sorted([*before["collections"], "tasks"])
    assert await target["tasks"].count_documents({}) == 1
