"""``mdb-engine export`` and ``mdb-engine import`` as real processes against the test server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from mdb_engine import MongoDBEngine

CLI = [sys.executable, "-m", "mdb_engine.cli"]

MANIFEST: dict[str, Any] = {
    "schema_version": "2.0",
    "slug": "shop",
    "name": "Shop",
    "managed_indexes": {"tasks": [{"keys": {"sku": 1}, "unique": True}]},
    "initial_data": {"tags": [{"name": "home"}]},
}


@pytest.fixture
def env(mongodb_uri: str) -> dict[str, str]:
    """The environment of the CLI: the test server, and no other engine setting."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("MDB_ENGINE_")}
    return {**clean, "MDB_ENGINE_MONGO_URI": mongodb_uri, "PYTHONUNBUFFERED": "1"}


def mdb_engine(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def collections(uri: str, database: str) -> dict[str, list[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        db = client[database]
        return {name: list(db[name].find({}, {"_id": 0})) for name in db.list_collection_names()}
    finally:
        client.close()


@pytest.fixture
async def shop(engine: MongoDBEngine) -> None:
    await engine.register_app(MANIFEST)
    await engine.get_scoped_db("shop").tasks.insert_many([{"sku": f"s{n}"} for n in range(3)])


@pytest.mark.usefixtures("shop")
def test_export_then_import_as_an_app_and_as_plain_collections(
    env: dict[str, str],
    mongodb_uri: str,
    mongodb_database: str,
    target_database: str,
    tmp_path: Path,
) -> None:
    dump = tmp_path / "dump"
    exported = mdb_engine(env, "export", "shop", "--out", dump, "--db", mongodb_database)
    assert exported.returncode == 0, exported.stderr
    assert f"Exported app 'shop' to {dump}" in exported.stdout
    assert f"tasks: 3 document(s), 2 index(es) -> {mongodb_database}/shop_tasks.bson" in (
        exported.stdout
    )
    assert f"--nsFrom '{mongodb_database}.shop_*' --nsTo 'NEWDB.*'" in exported.stdout

    imported = mdb_engine(env, "import", dump, "--slug", "outlet", "--db", target_database)
    assert imported.returncode == 0, imported.stderr
    assert (
        f"Imported 2 collection(s) into database '{target_database}' as app 'outlet' "
        "(registered):" in imported.stdout
    )
    assert "  tasks -> outlet_tasks: 3 document(s), 2 index(es)" in imported.stdout
    stored = collections(mongodb_uri, target_database)
    assert stored["outlet_tasks"] == [{"sku": f"s{n}", "app_id": "outlet"} for n in range(3)]
    assert stored["outlet_tags"] == [{"name": "home", "app_id": "outlet"}]  # not seeded twice
    assert [app["manifest"]["slug"] for app in stored["_mdb_engine_apps"]] == ["outlet"]

    plain_db = f"{target_database}_plain"
    try:
        plain = mdb_engine(env, "import", dump, "--plain", "--db", plain_db)
        assert plain.returncode == 0, plain.stderr
        assert "as plain collections" in plain.stdout
        assert sorted(collections(mongodb_uri, plain_db)) == ["tags", "tasks"]
    finally:
        client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
        client.drop_database(plain_db)
        client.close()


@pytest.mark.usefixtures("shop")
def test_a_truncated_dump_is_refused_with_a_clear_error_and_nothing_written(
    env: dict[str, str],
    mongodb_uri: str,
    mongodb_database: str,
    target_database: str,
    tmp_path: Path,
) -> None:
    dump = tmp_path / "dump"
    stripped = mdb_engine(
        env, "export", "shop", "--out", dump, "--db", mongodb_database, "--strip-prefix"
    )
    assert stripped.returncode == 0, stripped.stderr
    assert f"mongorestore --uri URI {dump}" in stripped.stdout
    tasks = dump / "shop" / "tasks.bson"
    tasks.write_bytes(tasks.read_bytes()[:-5])

    refused = mdb_engine(env, "import", dump, "--slug", "outlet", "--db", target_database)
    assert refused.returncode == 1
    assert f"✗ {tasks}: document #3 at byte" in refused.stderr
    assert "is cut off" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    assert collections(mongodb_uri, target_database) == {}


def test_usage_errors_and_unknown_apps(
    env: dict[str, str], mongodb_database: str, tmp_path: Path
) -> None:
    neither = mdb_engine(env, "import", tmp_path, "--db", mongodb_database)
    assert neither.returncode == 2
    assert "give either --slug NEW (import as an app) or --plain --db NAME" in neither.stderr
    no_db = mdb_engine(env, "import", tmp_path, "--plain")
    assert no_db.returncode == 2
    assert "--plain needs --db NAME" in no_db.stderr
    ghost = mdb_engine(env, "export", "ghost", "--out", tmp_path / "out", "--db", mongodb_database)
    assert ghost.returncode == 1
    assert "app 'ghost' is not registered and has no collections" in ghost.stderr
    assert "Traceback" not in ghost.stderr


@pytest.mark.usefixtures("shop")
def test_a_server_refusal_is_reported_and_the_import_undone(
    env: dict[str, str],
    mongodb_uri: str,
    mongodb_database: str,
    target_database: str,
    tmp_path: Path,
) -> None:
    dump = tmp_path / "dump"
    assert (
        mdb_engine(env, "export", "shop", "--out", dump, "--db", mongodb_database).returncode == 0
    )
    tasks = dump / mongodb_database / "shop_tasks.bson"
    data = tasks.read_bytes()
    tasks.write_bytes(data + data[: int.from_bytes(data[:4], "little")])  # a duplicate _id

    duplicate = mdb_engine(env, "import", dump, "--slug", "outlet", "--db", target_database)
    assert duplicate.returncode == 1
    assert "refused the operation" in duplicate.stderr
    assert "E11000 duplicate key error" in duplicate.stderr
    assert duplicate.stderr.rstrip().endswith("; the import was undone")
    assert "Traceback" not in duplicate.stderr
    assert collections(mongodb_uri, target_database) == {}

    missing = mdb_engine(
        env,
        "import",
        dump,
        "--slug",
        "outlet",
        "--db",
        target_database,
        "--manifest",
        tmp_path / "nope.json",
    )
    assert missing.returncode == 1
    assert "nope.json: cannot be read as JSON" in missing.stderr
