"""The app registry: register/update/unregister, persistence, reload, collisions, isolation."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from mdb_engine import AppNotRegistered, ManifestError, MongoDBEngine
from mdb_engine.core.manifest import parse_manifest
from mdb_engine.core.registry_store import REGISTRY_COLLECTION
from mdb_engine.testing import CommandLog

RawClient = AsyncMongoClient[dict[str, Any]]


def manifest(slug: str = "my_app", **extra: Any) -> dict[str, Any]:
    return {"schema_version": "2.0", "slug": slug, "name": f"App {slug}", **extra}


async def registry_slugs(client: RawClient, db_name: str) -> list[str]:
    return sorted(await client[db_name][REGISTRY_COLLECTION].distinct("_id"))


async def test_register_from_dict_and_lookup(engine: MongoDBEngine) -> None:
    registered = await engine.register_app(manifest(description="tasks"))
    assert registered.slug == "my_app"
    app = engine.get_app("my_app")
    assert app is not None
    assert app.is_active
    assert engine.get_manifest("my_app") == registered
    assert engine.list_apps() == ["my_app"]
    assert engine.get_app("other") is None
    assert engine.get_manifest("other") is None


@pytest.mark.parametrize("form", ["str", "path", "loaded"])
async def test_register_from_file_forms(engine: MongoDBEngine, tmp_path: Path, form: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest("file_app")))
    argument: Any = {"str": str(path), "path": path}.get(form)
    if form == "loaded":
        argument = await engine.load_manifest(path)
    await engine.register_app(argument)
    assert engine.list_apps() == ["file_app"]


async def test_validate_manifest_reports_without_raising(engine: MongoDBEngine) -> None:
    assert await engine.validate_manifest(manifest()) == (True, [])
    ok, errors = await engine.validate_manifest({"slug": "Bad Slug", "name": "x"})
    assert not ok
    assert any(error.startswith("$.slug") for error in errors)


async def test_unchanged_manifest_again_sends_nothing(
    engine: MongoDBEngine, command_log: CommandLog
) -> None:
    declared = manifest(
        managed_indexes={"tasks": [{"type": "regular", "keys": {"priority": -1}, "name": "p"}]},
        initial_data={"tasks": [{"title": "first"}]},
    )
    await engine.register_app(declared)
    command_log.clear()
    again = await engine.register_app(declared)
    assert again.slug == "my_app"
    assert command_log.commands == []


async def test_changed_manifest_is_updated(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str
) -> None:
    await engine.register_app(manifest(description="v1"))
    await engine.register_app(manifest(description="v2"))
    stored = await mongo_client[mongodb_database][REGISTRY_COLLECTION].find_one({"_id": "my_app"})
    assert stored is not None
    assert stored["manifest"]["description"] == "v2"
    manifest_now = engine.get_manifest("my_app")
    assert manifest_now is not None
    assert manifest_now.description == "v2"


@pytest.mark.parametrize(
    ("first", "second"), [("ab", "ab_cd"), ("ab_cd", "ab"), ("shop", "shop_x")]
)
async def test_colliding_slugs_are_refused(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str, first: str, second: str
) -> None:
    await engine.register_app(manifest(first))
    with pytest.raises(ManifestError) as caught:
        await engine.register_app(manifest(second))
    [problem] = caught.value.problems
    assert problem.path == "$.slug"
    assert first in problem.message
    assert second in problem.message
    assert problem.hint
    assert engine.list_apps() == [first]
    assert await registry_slugs(mongo_client, mongodb_database) == [first]


async def test_collision_with_app_registered_by_another_worker(
    engine: MongoDBEngine, mongodb_uri: str, mongodb_database: str
) -> None:
    async with MongoDBEngine(mongodb_uri, mongodb_database) as other_worker:
        await other_worker.register_app(manifest("crm_v2"))
    with pytest.raises(ManifestError, match="collides"):
        await engine.register_app(manifest("crm"))


async def test_similar_but_not_colliding_slugs_are_fine(engine: MongoDBEngine) -> None:
    await engine.register_app(manifest("ab"))
    await engine.register_app(manifest("abc"))
    await engine.register_app(manifest("ab-c"))
    assert engine.list_apps() == ["ab", "ab-c", "abc"]


async def test_invalid_manifest_registers_nothing(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str
) -> None:
    bad = manifest(managed_index={"tasks": []}, status="sleeping")
    with pytest.raises(ManifestError) as caught:
        await engine.register_app(bad)
    paths = {problem.path for problem in caught.value.problems}
    assert {"$.managed_index", "$.status"} <= paths
    assert engine.list_apps() == []
    assert await registry_slugs(mongo_client, mongodb_database) == []


async def test_wrong_argument_type_is_a_manifest_error(engine: MongoDBEngine) -> None:
    with pytest.raises(ManifestError, match="expected a manifest"):
        await engine.register_app(42)  # type: ignore[arg-type]


async def test_second_worker_sees_apps_after_reload(
    engine: MongoDBEngine, mongodb_uri: str, mongodb_database: str
) -> None:
    await engine.register_app(manifest("alpha"))
    await engine.register_app(manifest("beta", status="draft"))
    await engine.register_app(manifest("gamma"))
    async with MongoDBEngine(mongodb_uri, mongodb_database) as worker:
        assert worker.list_apps() == []
        assert await worker.reload_apps() == ["alpha", "gamma"]
        assert worker.list_apps() == ["alpha", "gamma"]
        assert worker.get_manifest("alpha") == engine.get_manifest("alpha")
        await worker.get_scoped_db("alpha").tasks.insert_one({"from": "worker"})
        await engine.unregister_app("gamma")
        assert await worker.reload_apps() == ["alpha"]
        assert worker.list_apps() == ["alpha"]
    assert await engine.get_scoped_db("alpha").tasks.count_documents({}) == 1


async def test_two_engines_on_two_databases_do_not_see_each_other(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_uri: str, mongodb_database: str
) -> None:
    other_db = f"{mongodb_database}_b"
    async with MongoDBEngine(mongodb_uri, other_db) as other:
        try:
            await engine.register_app(manifest("shared"))
            await other.register_app(manifest("shared", description="the other one"))
            await engine.register_app(manifest("only_a"))
            await engine.get_scoped_db("shared").tasks.insert_one({"n": 1})
            assert other.list_apps() == ["shared"]
            assert await other.reload_apps() == ["shared"]
            other_manifest = other.get_manifest("shared")
            assert other_manifest is not None
            assert other_manifest.description == "the other one"
            assert await other.get_scoped_db("shared").tasks.count_documents({}) == 0
            assert await engine.get_scoped_db("shared").tasks.count_documents({}) == 1
        finally:
            await mongo_client.drop_database(other_db)


async def test_get_scoped_db_refuses_unknown_and_inactive_apps(engine: MongoDBEngine) -> None:
    await engine.register_app(manifest("parked", status="inactive"))
    with pytest.raises(AppNotRegistered, match="'nobody' is not registered"):
        engine.get_scoped_db("nobody")
    with pytest.raises(AppNotRegistered, match="not active"):
        engine.get_scoped_db("parked")


async def test_unregister(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str
) -> None:
    await engine.register_app(manifest("temp"))
    await engine.get_scoped_db("temp").notes.insert_one({"keep": True})
    await engine.unregister_app("temp")
    assert engine.list_apps() == []
    assert await registry_slugs(mongo_client, mongodb_database) == []
    # Data is kept: unregistering is not deleting.
    assert await mongo_client[mongodb_database]["temp_notes"].count_documents({}) == 1
    with pytest.raises(AppNotRegistered):
        await engine.unregister_app("temp")


async def test_version_1_manifest_is_migrated(
    engine: MongoDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MDB_ENGINE_SECRET_KEY", "a-test-secret-that-is-long-enough-0123456789")
    legacy = {
        "slug": "task_manager",
        "name": "My Task App",
        "auth_required": True,
        "managed_indexes": {"tasks": [{"keys": {"priority": -1}, "name": "priority_idx"}]},
    }
    with pytest.warns(DeprecationWarning, match="1.0"):
        registered = await engine.register_app(legacy)
    assert registered.schema_version == "2.0"
    assert registered.auth is not None
    assert registered.auth.policy is not None
    assert registered.auth.policy.required is True


async def test_schema_key_is_neither_stored_nor_fingerprinted(
    engine: MongoDBEngine,
    mongo_client: RawClient,
    mongodb_database: str,
    command_log: CommandLog,
    tmp_path: Path,
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"$schema": "./manifest.schema.json", **manifest()}))
    plain = parse_manifest(manifest())

    registered = await engine.register_app(path)

    assert registered.schema_reference == "./manifest.schema.json"
    stored = await mongo_client[mongodb_database][REGISTRY_COLLECTION].find_one({"_id": "my_app"})
    assert stored is not None
    assert stored["manifest"] == plain.to_document()
    assert stored["fingerprint"] == plain.fingerprint()
    command_log.clear()
    await engine.register_app(manifest())  # the same manifest without the key: unchanged
    assert command_log.commands == []


async def test_every_declared_block_is_applied_without_a_warning(
    engine: MongoDBEngine, caplog: pytest.LogCaptureFixture
) -> None:
    declared = manifest(
        websockets={"realtime": {"path": "/ws"}},
        cors={"allow_origins": ["*"]},
        observability={"logging": {"level": "DEBUG"}},
        embedding_config={},
        memory_config={},
    )
    with caplog.at_level(logging.WARNING, logger="mdb_engine"):
        await engine.register_app(declared)
    assert [r.getMessage() for r in caplog.records if "not applied" in r.getMessage()] == []


async def test_plain_manifest_logs_no_warning(
    engine: MongoDBEngine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mdb_engine"):
        await engine.register_app(manifest())
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_manifests_with_operator_and_dotted_keys_persist(
    engine: MongoDBEngine, mongodb_uri: str, mongodb_database: str
) -> None:
    declared = manifest(
        "dollar",
        managed_indexes={
            "tasks": [
                {
                    "type": "partial",
                    "keys": {"status.code": 1},
                    "name": "open_by_code",
                    "partialFilterExpression": {"qty": {"$gt": 5}},
                }
            ]
        },
        collection_settings={"tasks": {"validator": {"$jsonSchema": {"bsonType": "object"}}}},
    )
    await engine.register_app(declared)
    async with MongoDBEngine(mongodb_uri, mongodb_database) as worker:
        assert await worker.reload_apps() == ["dollar"]
        assert worker.get_manifest("dollar") == engine.get_manifest("dollar")


async def test_reload_skips_a_persisted_manifest_that_no_longer_validates(
    engine: MongoDBEngine,
    mongo_client: RawClient,
    mongodb_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await engine.register_app(manifest("good_app"))
    broken = {"slug": "broken_app", "name": "Broken", "managed_index": {}}
    await mongo_client[mongodb_database][REGISTRY_COLLECTION].insert_one(
        {"_id": "broken_app", "manifest": broken, "fingerprint": "x", "status": "active"}
    )
    with caplog.at_level(logging.ERROR, logger="mdb_engine"):
        assert await engine.reload_apps() == ["good_app"]
    assert engine.list_apps() == ["good_app"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "'broken_app': persisted manifest is invalid" in record.getMessage()
    assert "managed_index" in record.getMessage()


async def test_reload_reads_the_registry_once(
    engine: MongoDBEngine, command_log: CommandLog, mongodb_uri: str, mongodb_database: str
) -> None:
    async with MongoDBEngine(mongodb_uri, mongodb_database) as other_worker:
        for slug in ("one", "two", "three", "four"):
            await other_worker.register_app(manifest(slug))
    command_log.clear()
    assert await engine.reload_apps() == ["four", "one", "three", "two"]
    registry_reads = [r for r in command_log.named("find") if r.collection == REGISTRY_COLLECTION]
    assert len(registry_reads) == 1
    assert command_log.named("update", "insert") == []  # nothing changed, nothing written
