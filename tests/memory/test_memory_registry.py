"""EngineMemory: the manifest's memory_config picks and configures the store."""

from __future__ import annotations

from typing import Any

import pytest

from mdb_engine import MongoDBEngine
from mdb_engine.embeddings import EngineEmbeddings, LocalEmbeddingProvider
from mdb_engine.errors import ConfigurationError
from mdb_engine.memory import EngineMemory, MemoryService


def manifest(**fields: Any) -> dict[str, Any]:
    return {"schema_version": "2.0", "slug": "diary", "name": "Diary", **fields}


async def test_a_store_is_built_once_and_rebuilt_on_change(
    engine: MongoDBEngine, local_model: LocalEmbeddingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = EngineEmbeddings(engine.get_scoped_db)
    memory = EngineMemory()
    parsed = await engine.register_app(manifest(memory_config={"collection": "facts"}))
    service = await embeddings.get("diary", parsed)
    store = await memory.get("diary", parsed, service)
    assert isinstance(store, MemoryService)
    assert store.collection_name == "facts"
    assert store.max_memories_per_user is None
    assert await memory.get("diary", parsed, service) is store
    changed = await engine.register_app(manifest(memory_config={"max_memories_per_user": 2}))
    other = await memory.get("diary", changed, service)
    assert other is not store
    assert isinstance(other, MemoryService)
    assert other.collection_name == "memories"
    assert other.max_memories_per_user == 2
    await memory.forget("diary")
    await memory.forget("never-registered")
    assert await memory.get("diary", changed, service) is not other
    await memory.close()
    await embeddings.close()


async def test_disabled_memory_and_unconfigured_mem0_are_refused(
    engine: MongoDBEngine, local_model: LocalEmbeddingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MDB_ENGINE_MEM0_CONFIG", raising=False)
    embeddings = EngineEmbeddings(engine.get_scoped_db)
    memory = EngineMemory()
    disabled = await engine.register_app(manifest(memory_config={"enabled": False}))
    service = await embeddings.get("diary", disabled)
    with pytest.raises(ConfigurationError, match="disabled"):
        await memory.get("diary", disabled, service)
    mem0 = await engine.register_app(manifest(memory_config={"provider": "mem0"}))
    with pytest.raises(ConfigurationError, match="MDB_ENGINE_MEM0_CONFIG"):
        await memory.get("diary", mem0, service)
    await memory.close()
    await embeddings.close()
