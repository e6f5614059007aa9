"""MemoryService: per-user memories with real local embeddings, scoped to app and user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine
from mdb_engine.errors import ConfigurationError
from mdb_engine.memory import Memory, MemoryHit, MemoryService, MemoryStore

StoreFor = Callable[..., Awaitable[MemoryStore]]

FACTS = [
    "I am allergic to peanuts",
    "My favourite sport is tennis",
    "I live in Lisbon, Portugal",
]


async def test_add_then_search_finds_the_closest_memory(store_for: StoreFor) -> None:
    store = await store_for("diary")
    added = await store.add(FACTS[0], user_id="ana")
    assert [memory.memory for memory in added] == [FACTS[0]]
    for fact in FACTS[1:]:
        await store.add(fact, user_id="ana", metadata={"kind": "fact"})
    hits = await store.search("what food should I avoid?", user_id="ana", limit=3)
    assert all(isinstance(hit, MemoryHit) for hit in hits)
    assert hits[0].memory == FACTS[0]
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert (await store.search("which city is home?", user_id="ana", limit=1))[0].memory == (
        FACTS[2]
    )
    assert len(await store.search("anything", user_id="ana", limit=2)) == 2


async def test_a_user_never_sees_another_users_memories(store_for: StoreFor) -> None:
    store = await store_for("diary")
    [ana] = await store.add("I am allergic to peanuts", user_id="ana")
    await store.add("I love peanut butter", user_id="bob")
    hits = await store.search("peanuts", user_id="ana", limit=10)
    assert [hit.memory for hit in hits] == ["I am allergic to peanuts"]
    assert [memory.memory for memory in await store.get_all(user_id="bob")] == [
        "I love peanut butter"
    ]
    assert await store.get(ana.id, user_id="bob") is None
    assert await store.update(ana.id, "changed", user_id="bob") is None
    assert await store.delete(ana.id, user_id="bob") is False
    assert await store.delete_all(user_id="bob") == 1
    assert (await store.get(ana.id, user_id="ana")) == ana
    assert await store.search("peanuts", user_id="bob", limit=10) == []


async def test_an_app_never_sees_another_apps_memories(
    store_for: StoreFor, engine: MongoDBEngine, mongo_client: AsyncMongoClient[dict[str, Any]]
) -> None:
    diary = await store_for("diary")
    notes = await store_for("notes")
    [memory] = await diary.add("I am allergic to peanuts", user_id="ana")
    await notes.add("Ana's notes app memory", user_id="ana")
    assert [hit.memory for hit in await notes.search("peanuts", user_id="ana", limit=10)] == [
        "Ana's notes app memory"
    ]
    assert await notes.get(memory.id, user_id="ana") is None
    assert await notes.delete(memory.id, user_id="ana") is False
    # Stored in each app's own physical collection, tagged with its app_id.
    raw = mongo_client[engine.db_name]
    for slug in ("diary", "notes"):
        documents = await raw[f"{slug}_memories"].find({}).to_list()
        assert [document["app_id"] for document in documents] == [slug]
        assert documents[0]["user_id"] == "ana"
        assert len(documents[0]["embedding"]) == 384
    assert await notes.delete_all(user_id="ana") == 1
    assert len(await diary.get_all(user_id="ana")) == 1


async def test_update_re_embeds_and_keeps_creation_time(store_for: StoreFor) -> None:
    store = await store_for("diary")
    [memory] = await store.add("My favourite sport is tennis", user_id="ana")
    updated = await store.update(
        memory.id, "I moved to Tokyo, Japan", user_id="ana", metadata={"kind": "home"}
    )
    assert updated is not None
    assert updated.memory == "I moved to Tokyo, Japan"
    assert updated.metadata == {"kind": "home"}
    assert updated.created_at == memory.created_at
    assert updated.updated_at is not None
    assert memory.updated_at is not None
    assert updated.updated_at >= memory.updated_at
    [hit] = await store.search("which city do I live in?", user_id="ana", limit=1)
    assert hit.id == memory.id
    assert hit.score > 0.3
    [sport] = await store.search("tennis racket", user_id="ana", limit=1)
    assert sport.memory == "I moved to Tokyo, Japan"  # the only one, and no longer about tennis
    assert sport.score < hit.score
    with pytest.raises(ValueError, match="empty"):
        await store.update(memory.id, "  ", user_id="ana")
    assert await store.update("not-an-id", "text", user_id="ana") is None


async def test_chat_messages_become_one_memory_each(store_for: StoreFor) -> None:
    store = await store_for("diary")
    added = await store.add(
        [
            {"role": "system", "content": "You are helpful"},
            {"role": "user", "content": "I like green tea"},
            {"role": "assistant", "content": "Noted: you like green tea"},
            {"role": "user", "content": ""},
        ],
        user_id="ana",
        metadata={"session": "s1"},
    )
    assert [(memory.memory, memory.metadata) for memory in added] == [
        ("I like green tea", {"session": "s1", "role": "user"}),
        ("Noted: you like green tea", {"session": "s1", "role": "assistant"}),
    ]
    assert await store.add("   ", user_id="ana") == []
    hits = await store.search("tea", user_id="ana", limit=5, filters={"role": "user"})
    assert [hit.memory for hit in hits] == ["I like green tea"]
    with pytest.raises(ValueError, match="scope"):
        await store.search("tea", user_id="ana", filters={"user_id": "bob"})
    with pytest.raises(ValueError, match="metadata field"):
        await store.search("tea", user_id="ana", filters={"$where": "1"})


async def test_get_all_is_newest_first_and_limited(store_for: StoreFor) -> None:
    store = await store_for("diary")
    for number in range(5):
        await store.add(f"memory number {number}", user_id="ana")
    everything = await store.get_all(user_id="ana")
    assert [memory.memory for memory in everything] == [
        f"memory number {number}" for number in reversed(range(5))
    ]
    assert len(await store.get_all(user_id="ana", limit=2)) == 2
    assert all(isinstance(memory, Memory) for memory in everything)
    assert everything[0].to_dict()["memory"] == "memory number 4"
    with pytest.raises(ValueError, match="positive"):
        await store.get_all(user_id="ana", limit=0)


async def test_delete_and_delete_all_touch_only_the_users_memories(
    store_for: StoreFor,
) -> None:
    store = await store_for("diary")
    first, _ = await store.add(
        [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}], user_id="ana"
    )
    await store.add("bob's", user_id="bob")
    assert await store.delete(first.id, user_id="ana") is True
    assert await store.delete(first.id, user_id="ana") is False
    assert await store.delete("garbage", user_id="ana") is False
    assert await store.delete_all(user_id="ana") == 1
    assert await store.get_all(user_id="ana") == []
    assert len(await store.get_all(user_id="bob")) == 1


@pytest.mark.parametrize("user_id", [None, "", "   ", 42])
async def test_a_missing_user_is_refused(store_for: StoreFor, user_id: Any) -> None:
    store = await store_for("diary")
    await store.add("a memory", user_id="ana")
    with pytest.raises(ConfigurationError, match="user_id"):
        await store.add("x", user_id=user_id)
    with pytest.raises(ConfigurationError, match="user_id"):
        await store.search("x", user_id=user_id)
    with pytest.raises(ConfigurationError, match="user_id"):
        await store.get_all(user_id=user_id)
    with pytest.raises(ConfigurationError, match="user_id"):
        await store.delete_all(user_id=user_id)
    assert len(await store.get_all(user_id="ana")) == 1


async def test_max_memories_per_user_drops_the_oldest(store_for: StoreFor) -> None:
    store = await store_for("diary", memory_config={"max_memories_per_user": 3})
    assert isinstance(store, MemoryService)
    for number in range(4):
        await store.add(f"memory number {number}", user_id="ana")
    await store.add("bob's only memory", user_id="bob")
    assert [memory.memory for memory in await store.get_all(user_id="ana")] == [
        "memory number 3",
        "memory number 2",
        "memory number 1",
    ]
    await store.add(
        [{"role": "user", "content": f"batch {number}"} for number in range(5)], user_id="ana"
    )
    assert [memory.memory for memory in await store.get_all(user_id="ana")] == [
        "batch 4",
        "batch 3",
        "batch 2",
    ]
    assert len(await store.get_all(user_id="bob")) == 1
