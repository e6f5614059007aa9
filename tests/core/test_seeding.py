"""initial_data: seeded once per collection, through the scoped API, tagged like any write."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError

from mdb_engine import MongoDBEngine
from mdb_engine.core.seeding import SEED_MARKERS_COLLECTION

RawClient = AsyncMongoClient[dict[str, Any]]

MANIFEST: dict[str, Any] = {
    "schema_version": "2.0",
    "slug": "seeded",
    "name": "Seeded",
    "initial_data": {
        "tasks": [{"title": "one"}, {"title": "two", "priority": 3}],
        "tags": [{"name": "home"}],
    },
}


async def test_seeded_documents_are_tagged_and_not_reseeded(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_uri: str, mongodb_database: str
) -> None:
    original = copy.deepcopy(MANIFEST)
    await engine.register_app(MANIFEST)
    assert original == MANIFEST  # the caller's manifest gained no _id and no app_id
    raw = mongo_client[mongodb_database]
    tasks = await raw["seeded_tasks"].find({}, {"_id": 0}).sort("title", 1).to_list()
    assert tasks == [
        {"title": "one", "app_id": "seeded"},
        {"title": "two", "priority": 3, "app_id": "seeded"},
    ]
    assert await raw["seeded_tags"].count_documents({"app_id": "seeded"}) == 1

    # A restart (a new engine on the same database) registers again without re-seeding.
    async with MongoDBEngine(mongodb_uri, mongodb_database) as restarted:
        await restarted.register_app(MANIFEST)
    assert await raw["seeded_tasks"].count_documents({}) == 2
    markers = await raw[SEED_MARKERS_COLLECTION].find({}).sort("_id", 1).to_list()
    assert [(m["_id"], m["state"]) for m in markers] == [
        ("seeded/tags", "done"),
        ("seeded/tasks", "done"),
    ]


async def test_collection_added_later_is_seeded(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str
) -> None:
    await engine.register_app(MANIFEST)
    changed = copy.deepcopy(MANIFEST)
    changed["initial_data"]["notes"] = [{"text": "new"}]
    changed["initial_data"]["tasks"].append({"title": "three"})
    await engine.register_app(changed)
    raw = mongo_client[mongodb_database]
    assert await raw["seeded_notes"].count_documents({"app_id": "seeded"}) == 1
    # tasks was seeded already: its new document is not added behind the app's back.
    assert await raw["seeded_tasks"].count_documents({}) == 2


async def test_failed_seed_can_be_retried(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str
) -> None:
    raw = mongo_client[mongodb_database]
    await raw["seeded_tasks"].insert_one({"_id": 1, "app_id": "seeded", "title": "existing"})
    failing = copy.deepcopy(MANIFEST)
    failing["initial_data"] = {"tasks": [{"_id": 1, "title": "duplicate"}]}
    with pytest.raises(BulkWriteError):  # the driver's error passes through unchanged
        await engine.register_app(failing)
    assert await raw[SEED_MARKERS_COLLECTION].count_documents({}) == 0
