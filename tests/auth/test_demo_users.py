"""Demo users from the manifest: created hashed, their plain passwords stored nowhere."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine
from tests.auth.conftest import AppFactory, users_manifest

DEMO_PASSWORD = "demo-password-1234"


def demo_manifest(**extra: Any) -> dict[str, Any]:
    return users_manifest(
        demo_users=[
            {"email": "demo@example.com", "password": DEMO_PASSWORD, "name": "Demo", **extra}
        ]
    )


async def _every_stored_value(client: AsyncMongoClient[Any], database: str) -> str:
    db = client[database]
    dumped = []
    for name in await db.list_collection_names():
        async for document in db[name].find({}):
            dumped.append(repr(document))
    return "\n".join(dumped)


async def test_demo_users_log_in_and_their_passwords_are_stored_nowhere(
    engine: MongoDBEngine,
    make_app: AppFactory,
    mongo_client: AsyncMongoClient[Any],
    mongodb_database: str,
) -> None:
    manifest = await engine.register_app(demo_manifest())
    _, client = await make_app(engine, "shop")

    login = await client.post(
        "/auth/login", json={"email": "demo@example.com", "password": DEMO_PASSWORD}
    )
    assert login.status_code == 200
    assert login.json()["user"]["name"] == "Demo"

    stored = await _every_stored_value(mongo_client, mongodb_database)
    assert DEMO_PASSWORD not in stored
    assert "$argon2id$" in stored  # the registry and the user hold the hash
    registry = await mongo_client[mongodb_database]["_mdb_engine_apps"].find_one({"_id": "shop"})
    demo = registry["manifest"]["auth"]["users"]["demo_users"][0]
    assert demo.get("password") is None
    assert demo["password_hash"].startswith("$argon2id$")
    # Not kept in memory either: the registered manifest carries the hash.
    assert manifest.auth.users.demo_users[0].password is None
    assert engine.get_manifest("shop").auth.users.demo_users[0].password is None


async def test_registering_again_and_reloading_keep_one_demo_user(
    engine: MongoDBEngine,
    mongodb_uri: str,
    mongodb_database: str,
    mongo_client: AsyncMongoClient[Any],
    make_app: AppFactory,
) -> None:
    await engine.register_app(demo_manifest())
    await engine.register_app(demo_manifest())  # same fingerprint: a no-op
    async with MongoDBEngine(mongodb_uri, mongodb_database) as worker:
        assert await worker.reload_apps() == ["shop"]  # from the registry's hashed manifest
        _, client = await make_app(worker, "shop")
        login = await client.post(
            "/auth/login", json={"email": "demo@example.com", "password": DEMO_PASSWORD}
        )
        assert login.status_code == 200
    count = await mongo_client[mongodb_database]["shop_users"].count_documents({})
    assert count == 1


async def test_a_demo_user_whose_password_was_changed_keeps_it(
    engine: MongoDBEngine, mongo_client: AsyncMongoClient[Any], mongodb_database: str
) -> None:
    await engine.register_app(demo_manifest())
    users = mongo_client[mongodb_database]["shop_users"]
    await users.update_one({}, {"$set": {"password_hash": "$argon2id$changed-by-the-user"}})
    await engine.register_app(demo_manifest(roles=["editor"]))  # a changed manifest
    stored = await users.find_one({})
    assert stored["password_hash"] == "$argon2id$changed-by-the-user"


async def test_a_restart_sends_no_index_building_command(
    mongodb_uri: str, mongodb_database: str, engine: MongoDBEngine, make_app: AppFactory
) -> None:
    from mdb_engine.testing import CommandLog

    await engine.register_app(demo_manifest())
    _, client = await make_app(engine, "shop")
    await client.post("/auth/login", json={"email": "demo@example.com", "password": DEMO_PASSWORD})
    log = CommandLog()
    async with MongoDBEngine(mongodb_uri, mongodb_database, event_listeners=[log]) as restarted:
        await restarted.register_app(demo_manifest())
        _, again = await make_app(restarted, "shop")
        login = await again.post(
            "/auth/login", json={"email": "demo@example.com", "password": DEMO_PASSWORD}
        )
        assert login.status_code == 200
    assert "listIndexes" in log.names()  # the sync did look
    assert "createIndexes" not in log.names()
