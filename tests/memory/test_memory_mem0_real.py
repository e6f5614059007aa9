"""Mem0Memory on real mem0ai, fully offline: Qdrant in memory, the bundled all-MiniLM-L6-v2
through Mem0's huggingface embedder, and the local chat stand-in as Mem0's LLM."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from chat_standin import ChatStandIn, QueuedAnswer

from mdb_engine.errors import ConfigurationError
from mdb_engine.memory import Mem0Memory, Memory, MemoryHit, MemoryStore

MakeMem0 = Callable[..., Awaitable[Mem0Memory]]


async def test_every_call_works_on_real_mem0(mem0_for: MakeMem0, chat_server: ChatStandIn) -> None:
    diary = await mem0_for("diary", infer=False)
    assert isinstance(diary, MemoryStore)
    [tea] = await diary.add("likes green tea", user_id="ana", metadata={"topic": "food"})
    assert isinstance(tea, Memory)
    assert (tea.memory, tea.user_id, tea.metadata) == (
        "likes green tea",
        "ana",
        {"topic": "food", "role": "user"},
    )
    assert uuid.UUID(tea.id)
    assert tea.created_at is not None
    assert tea.created_at.tzinfo is not None
    assert tea.updated_at == tea.created_at
    chat = [
        {"role": "system", "content": "not stored"},
        {"role": "user", "content": "my cat is called Miso"},
        {"role": "assistant", "content": "what a nice name for a cat"},
    ]
    cat, reply = await diary.add(chat, user_id="ana")
    assert (cat.memory, cat.metadata) == ("my cat is called Miso", {"role": "user"})
    assert reply.metadata == {"role": "assistant"}
    assert await diary.add([{"role": "system", "content": "only this"}], user_id="ana") == []

    hits = await diary.search("what does ana drink?", user_id="ana", limit=3)
    assert all(isinstance(hit, MemoryHit) for hit in hits)
    assert hits[0].memory == "likes green tea"
    assert len(hits) == 3  # the far ones too: threshold 0, like the builtin store
    assert hits[0].score > hits[1].score >= hits[2].score
    assert 0 < hits[0].score <= 1
    [only] = await diary.search("tea", user_id="ana", filters={"topic": "food"})
    assert only.id == tea.id
    assert await diary.search("tea", user_id="ana", filters={"topic": "work"}) == []

    newest_first = await diary.get_all(user_id="ana")
    assert [m.id for m in newest_first] == [reply.id, cat.id, tea.id]
    assert [m.id for m in await diary.get_all(user_id="ana", limit=1)] == [reply.id]
    assert await diary.get(tea.id, user_id="ana") == tea

    updated = await diary.update(tea.id, "loves oolong", user_id="ana", metadata={"mood": "calm"})
    assert updated is not None
    assert updated.memory == "loves oolong"
    # Mem0 merges the metadata given into the memory's (the builtin store replaces it).
    assert updated.metadata == {"topic": "food", "mood": "calm", "role": "user"}
    assert updated.created_at == tea.created_at
    assert updated.updated_at is not None
    assert updated.updated_at > tea.created_at
    [best] = await diary.search("oolong", user_id="ana", limit=1)
    assert best.id == tea.id  # re-embedded

    assert await diary.delete(cat.id, user_id="ana") is True
    assert await diary.delete(cat.id, user_id="ana") is False
    assert await diary.get(cat.id, user_id="ana") is None
    assert await diary.update(cat.id, "x", user_id="ana") is None
    assert await diary.delete_all(user_id="ana") == 2
    assert await diary.delete_all(user_id="ana") == 0
    assert await diary.get_all(user_id="ana") == []
    assert chat_server.requests == []  # infer=False: Mem0 never called its LLM


async def test_users_and_apps_never_see_each_other(
    mem0_for: MakeMem0, mem0_config: dict[str, Any]
) -> None:
    diary = await mem0_for("diary", infer=False)
    # Another app on the very same Mem0 store and collection: kept apart by the Mem0 user id.
    notes = Mem0Memory(diary._memory, slug="notes", infer=False)
    [ana] = await diary.add("ana likes tea", user_id="ana")
    [bob] = await diary.add("bob likes tea", user_id="bob")
    [other_app] = await notes.add("ana's note about tea", user_id="ana")
    # Mem0 refuses whitespace in ids; the adapter encodes it, and "%" so no two users meet.
    [spaced] = await diary.add("ana smith likes tea", user_id="ana smith")
    [percent] = await diary.add("a percent user", user_id="ana%20smith")
    assert spaced.user_id == "ana smith"
    assert [m.id for m in await diary.get_all(user_id="ana smith")] == [spaced.id]
    assert [m.id for m in await diary.get_all(user_id="ana%20smith")] == [percent.id]

    assert [h.id for h in await diary.search("tea", user_id="ana", limit=10)] == [ana.id]
    assert [m.id for m in await diary.get_all(user_id="ana")] == [ana.id]
    assert [m.id for m in await notes.get_all(user_id="ana")] == [other_app.id]
    for store, user in ((diary, "bob"), (notes, "ana"), (diary, "ana smith")):
        assert await store.get(ana.id, user_id=user) is None
        assert await store.update(ana.id, "taken over", user_id=user) is None
        assert await store.delete(ana.id, user_id=user) is False
    assert await diary.delete_all(user_id="ana") == 1
    assert await diary.get(bob.id, user_id="bob") == bob
    assert await notes.get(other_app.id, user_id="ana") == other_app

    # Apps built by create() get their own collection, "<slug>_<collection>".
    separate = await mem0_for("other", config={**mem0_config})
    assert separate._memory.collection_name == "other_memories"
    assert diary._memory.collection_name == "diary_memories"


async def test_bad_input_is_refused_before_mem0(mem0_for: MakeMem0) -> None:
    diary = await mem0_for("diary", infer=False)
    with pytest.raises(ConfigurationError, match="user_id"):
        await diary.search("x", user_id="")
    with pytest.raises(ConfigurationError, match="user_id"):
        await diary.add("x", user_id="  ")
    with pytest.raises(ValueError, match="scope"):
        await diary.search("x", user_id="ana", filters={"user_id": "eve"})
    with pytest.raises(ValueError, match="limit"):
        await diary.get_all(user_id="ana", limit=0)
    with pytest.raises(ValueError, match="Mem0 sets"):
        await diary.add("x", user_id="ana", metadata={"created_at": "2020-01-01"})
    [memory] = await diary.add("kept", user_id="ana")
    with pytest.raises(ValueError, match="empty"):
        await diary.update(memory.id, " ", user_id="ana")
    with pytest.raises(ValueError, match="Mem0 sets"):
        await diary.update(memory.id, "x", user_id="ana", metadata={"user_id": "eve"})
    for not_an_id in ("nope", "", "1234"):
        assert await diary.get(not_an_id, user_id="ana") is None
        assert await diary.delete(not_an_id, user_id="ana") is False
    assert await diary.add("", user_id="ana") == []


async def test_infer_extracts_facts_with_the_llm(
    mem0_for: MakeMem0, chat_server: ChatStandIn
) -> None:
    diary = await mem0_for("diary")  # infer=True, Mem0's default
    facts = {"memory": [{"text": "Loves green tea"}, {"text": "Lives in Lyon"}]}
    chat_server.queue(QueuedAnswer(200, _completion(json.dumps(facts))))
    stored = await diary.add(
        "I love green tea, and I moved to Lyon", user_id="ana", metadata={"source": "chat"}
    )
    assert sorted(m.memory for m in stored) == ["Lives in Lyon", "Loves green tea"]
    assert all(m.metadata == {"source": "chat"} for m in stored)  # no role: extracted facts
    [request] = chat_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer not-a-key"
    assert request.body["response_format"] == {"type": "json_object"}
    [hit] = await diary.search("where does ana live?", user_id="ana", limit=1)
    assert hit.memory == "Lives in Lyon"
    # An answer without facts stores nothing.
    assert await diary.add("hello", user_id="ana") == []


async def test_same_shapes_as_the_builtin_store(
    mem0_for: MakeMem0, store_for: Callable[..., Awaitable[MemoryStore]]
) -> None:
    builtin = await store_for("diary")
    mem0 = await mem0_for("diary", infer=False)
    chat = [{"role": "user", "content": "likes tea"}, {"role": "assistant", "content": "noted"}]
    results = []
    for store in (builtin, mem0):
        added = await store.add(chat, user_id="ana", metadata={"topic": "food"})
        [hit] = await store.search("tea", user_id="ana", limit=1)
        listed = await store.get_all(user_id="ana")
        results.append((added, hit, listed))
    (b_added, b_hit, b_listed), (m_added, m_hit, m_listed) = results
    assert [type(m) for m in m_added] == [type(m) for m in b_added] == [Memory, Memory]
    assert type(m_hit) is type(b_hit) is MemoryHit
    for ours, theirs in ((m_added, b_added), (m_listed, b_listed), ([m_hit], [b_hit])):
        assert [_comparable(m) for m in ours] == [_comparable(m) for m in theirs]
    assert m_hit.score == pytest.approx(b_hit.score, abs=1e-4)  # both cosine similarity


async def test_a_qdrant_folder_persists_after_aclose(
    mem0_for: MakeMem0, mem0_config: dict[str, Any], tmp_path: Path
) -> None:
    on_disk = {
        **mem0_config,
        "vector_store": {
            "provider": "qdrant",
            "config": {"path": str(tmp_path / "qdrant"), "embedding_model_dims": 384},
        },
    }
    first = await mem0_for("diary", config=on_disk, infer=False)
    [kept] = await first.add("likes tea", user_id="ana")
    await first.aclose()
    await first.aclose()  # closing twice is harmless
    # Local Qdrant locks its folder until closed: a second client opens it only after aclose.
    second = await mem0_for("diary", config=on_disk, infer=False)
    assert await second.get(kept.id, user_id="ana") == kept


async def test_an_app_picks_mem0_in_its_manifest(
    store_for: Callable[..., Awaitable[MemoryStore]],
    mem0_config: dict[str, Any],
    chat_server: ChatStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MDB_ENGINE_MEM0_CONFIG", json.dumps(mem0_config))
    store = await store_for("diary", memory_config={"provider": "mem0", "collection": "notes"})
    assert isinstance(store, Mem0Memory)
    assert store._memory.collection_name == "diary_notes"
    chat_server.queue(QueuedAnswer(200, _completion('{"memory": [{"text": "Likes tea"}]}')))
    [memory] = await store.add("I like tea", user_id="ana")  # infer=True through the registry
    assert memory.memory == "Likes tea"
    assert await store.get(memory.id, user_id="ana") == memory


def _comparable(memory: Memory) -> dict[str, Any]:
    fields = memory.to_dict()
    for name in ("id", "created_at", "updated_at", "score"):
        fields.pop(name, None)
    return fields


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "stand-in",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
