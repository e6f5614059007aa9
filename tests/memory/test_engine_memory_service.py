"""engine.get_memory_service(slug): memory_config applied per app, on its embedding service."""

from __future__ import annotations

from typing import Any

import pytest

from mdb_engine import MongoDBEngine
from mdb_engine.embeddings import LocalEmbeddingProvider
from mdb_engine.errors import AppNotRegistered


def manifest(slug: str) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": slug,
        "name": slug.title(),
        "embedding_config": {},
        "memory_config": {"collection": "memories"},
    }


async def test_memories_stay_with_their_app_and_user(
    engine: MongoDBEngine, local_model: LocalEmbeddingProvider
) -> None:
    await engine.register_app(manifest("chat"))
    await engine.register_app(manifest("diary"))
    chat = await engine.get_memory_service("chat")
    diary = await engine.get_memory_service("diary")
    assert await engine.get_memory_service("chat") is chat
    await chat.add("I like green tea", user_id="ann")
    await diary.add("I like black coffee", user_id="ann")
    await chat.add("I live in Lisbon", user_id="bob")

    ann_chat = [m.memory for m in await chat.get_all(user_id="ann")]
    assert ann_chat == ["I like green tea"]
    hits = await chat.search("what does she drink?", user_id="ann")
    assert [hit.memory for hit in hits] == ["I like green tea"]
    assert [m.memory for m in await diary.get_all(user_id="ann")] == ["I like black coffee"]
    stored = await engine.get_scoped_db("chat").memories.count_documents({})
    assert stored == 2


async def test_an_unknown_app_has_no_memory(engine: MongoDBEngine) -> None:
    with pytest.raises(AppNotRegistered):
        await engine.get_memory_service("nobody")
