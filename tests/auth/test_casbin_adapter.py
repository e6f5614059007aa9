"""The Casbin adapter: one document per rule, deterministic ids, concurrent adds stored once."""

from __future__ import annotations

import asyncio
from typing import Any

import casbin
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, WriteError

from mdb_engine.auth.providers.casbin_adapter import (
    MongoPolicyAdapter,
    document_rule,
    rule_document,
    rule_id,
)
from mdb_engine.auth.providers.casbin_models import RBAC_MODEL
from mdb_engine.core import MongoDBEngine
from mdb_engine.database import ScopedCollection

PHYSICAL = "shop_casbin_policies"


@pytest_asyncio.fixture
async def shop(engine: MongoDBEngine) -> ScopedCollection:
    await engine.register_app({"schema_version": "2.0", "slug": "shop", "name": "Shop"})
    return engine.get_scoped_db("shop").casbin_policies


@pytest.fixture
def raw(mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str) -> Any:
    """The physical rules collection, read without the engine."""
    return mongo_client[mongodb_database][PHYSICAL]


def rbac_model() -> Any:
    model = casbin.Model()
    model.load_model_from_text(RBAC_MODEL)
    return model


async def stored_rules(raw: Any) -> list[tuple[str, list[str]]]:
    return sorted([document_rule(document) async for document in raw.find({})])


def test_rule_id_is_deterministic_and_unambiguous() -> None:
    assert rule_id("p", ["admin", "tasks", "write"]) == rule_id("p", ["admin", "tasks", "write"])
    assert rule_id("p", ["admin", "tasks", "write"]) != rule_id("g", ["admin", "tasks", "write"])
    # Values that would collide if simply joined with a separator stay distinct.
    assert rule_id("p", ["a,b", "c"]) != rule_id("p", ["a", "b,c"])
    assert rule_id("p", ["a\x1fb", "c"]) != rule_id("p", ["a", "b\x1fc"])


def test_rule_document_round_trip() -> None:
    document = rule_document("g", ["alice", "admin"])
    assert document == {
        "_id": rule_id("g", ["alice", "admin"]),
        "ptype": "g",
        "v0": "alice",
        "v1": "admin",
    }
    assert document_rule(document) == ("g", ["alice", "admin"])


async def test_add_policy_stores_one_tagged_document(shop: ScopedCollection, raw: Any) -> None:
    adapter = MongoPolicyAdapter(shop)
    assert await adapter.add_policy("p", "p", ["admin", "tasks", "write"]) is True
    assert await adapter.add_policy("p", "p", ["admin", "tasks", "write"]) is False
    documents = await raw.find({}).to_list()
    assert documents == [
        {
            "_id": rule_id("p", ["admin", "tasks", "write"]),
            "ptype": "p",
            "v0": "admin",
            "v1": "tasks",
            "v2": "write",
            "app_id": "shop",
        }
    ]


async def test_concurrent_adds_store_one_document(shop: ScopedCollection, raw: Any) -> None:
    first, second = MongoPolicyAdapter(shop), MongoPolicyAdapter(shop)
    results = await asyncio.gather(
        first.add_policy("p", "p", ["admin", "tasks", "write"]),
        second.add_policy("p", "p", ["admin", "tasks", "write"]),
        first.add_policies("g", "g", [["alice", "admin"], ["bob", "admin"]]),
        second.add_policies("g", "g", [["alice", "admin"], ["bob", "admin"]]),
    )
    assert sorted(results[:2]) == [False, True]
    assert True in results[2:]
    assert await raw.count_documents({}) == 3


async def test_add_policies_reports_whether_anything_was_new(
    shop: ScopedCollection, raw: Any
) -> None:
    adapter = MongoPolicyAdapter(shop)
    await adapter.add_policy("p", "p", ["admin", "tasks", "read"])
    rules = [["admin", "tasks", "read"], ["admin", "tasks", "write"]]
    assert await adapter.add_policies("p", "p", rules) is True
    assert await adapter.add_policies("p", "p", rules) is False
    assert await stored_rules(raw) == [
        ("p", ["admin", "tasks", "read"]),
        ("p", ["admin", "tasks", "write"]),
    ]


async def test_insert_errors_other_than_duplicates_are_raised(
    shop: ScopedCollection, raw: Any, mongo_client: AsyncMongoClient[dict[str, Any]]
) -> None:
    await raw.database.create_collection(PHYSICAL, validator={"v0": {"$ne": "forbidden"}})
    adapter = MongoPolicyAdapter(shop)
    await adapter.add_policy("p", "p", ["admin", "tasks", "read"])
    with pytest.raises(BulkWriteError):
        await adapter.add_policies(
            "p", "p", [["admin", "tasks", "read"], ["forbidden", "tasks", "read"]]
        )
    with pytest.raises(WriteError):
        await adapter.add_policy("p", "p", ["forbidden", "tasks", "write"])
    assert await raw.count_documents({}) == 1


async def test_remove_policy_and_policies(shop: ScopedCollection, raw: Any) -> None:
    adapter = MongoPolicyAdapter(shop)
    rules = [["admin", "tasks", "read"], ["admin", "tasks", "write"], ["bob", "tasks", "read"]]
    await adapter.add_policies("p", "p", rules)
    assert await adapter.remove_policy("p", "p", ["admin", "tasks", "read"]) is True
    assert await adapter.remove_policy("p", "p", ["admin", "tasks", "read"]) is False
    assert await adapter.remove_policies("p", "p", [["admin", "tasks", "write"], ["x", "y", "z"]])
    assert await adapter.remove_policies("p", "p", [["x", "y", "z"]]) is False
    assert await stored_rules(raw) == [("p", ["bob", "tasks", "read"])]


async def test_remove_filtered_policy_treats_empty_values_as_wildcards(
    shop: ScopedCollection, raw: Any
) -> None:
    adapter = MongoPolicyAdapter(shop)
    await adapter.add_policies(
        "p",
        "p",
        [["admin", "tasks", "read"], ["admin", "notes", "read"], ["bob", "tasks", "read"]],
    )
    await adapter.add_policy("g", "g", ["admin", "tasks"])
    assert await adapter.remove_filtered_policy("p", "p", 1, "tasks", "") is True
    assert await adapter.remove_filtered_policy("p", "p", 0, "nobody") is False
    assert await stored_rules(raw) == [
        ("g", ["admin", "tasks"]),
        ("p", ["admin", "notes", "read"]),
    ]


async def test_load_policy_fills_the_model_and_skips_other_documents(
    shop: ScopedCollection,
) -> None:
    adapter = MongoPolicyAdapter(shop)
    await adapter.add_policy("p", "p", ["admin", "tasks", "write"])
    await adapter.add_policy("g", "g", ["alice", "admin"])
    await shop.insert_many([{"_id": "_seeded", "ptype": "_seeded"}, {"note": "not a rule"}])
    model = rbac_model()
    await adapter.load_policy(model)
    assert model.get_policy("p", "p") == [["admin", "tasks", "write"]]
    assert model.get_policy("g", "g") == [["alice", "admin"]]


async def test_save_policy_replaces_rules_and_keeps_other_documents(
    shop: ScopedCollection, raw: Any
) -> None:
    adapter = MongoPolicyAdapter(shop)
    await adapter.add_policies("p", "p", [["old", "tasks", "read"], ["kept", "tasks", "read"]])
    await shop.insert_one({"_id": "_seeded", "ptype": "_seeded"})
    model = rbac_model()
    model.add_policy("p", "p", ["kept", "tasks", "read"])
    model.add_policy("p", "p", ["new", "tasks", "read"])
    model.add_policy("g", "g", ["alice", "new"])
    assert await adapter.save_policy(model) is True
    assert await stored_rules(raw) == [
        ("_seeded", []),
        ("g", ["alice", "new"]),
        ("p", ["kept", "tasks", "read"]),
        ("p", ["new", "tasks", "read"]),
    ]
