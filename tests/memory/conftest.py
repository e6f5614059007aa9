"""Fixtures for the memory tests: the local model loaded once, apps with their memory stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from mdb_engine import MongoDBEngine
from mdb_engine.embeddings import EngineEmbeddings, LocalEmbeddingProvider
from mdb_engine.memory import EngineMemory, MemoryStore


@pytest.fixture(scope="session")
def local_model() -> LocalEmbeddingProvider:
    """all-MiniLM-L6-v2, loaded once per session (later providers share the loaded model)."""
    provider = LocalEmbeddingProvider()
    asyncio.run(provider.load())
    return provider


@pytest_asyncio.fixture
async def store_for(
    engine: MongoDBEngine, local_model: LocalEmbeddingProvider
) -> AsyncIterator[Callable[..., Awaitable[MemoryStore]]]:
    """``await store_for("app", memory_config={...})``: registers the app, returns its store."""
    embeddings = EngineEmbeddings(engine.get_scoped_db)
    memory = EngineMemory()

    async def build(slug: str, **fields: Any) -> MemoryStore:
        manifest = await engine.register_app(
            {"schema_version": "2.0", "slug": slug, "name": slug.title(), **fields}
        )
        service = await embeddings.get(slug, manifest)
        return await memory.get(slug, manifest, service)

    try:
        yield build
    finally:
        await memory.close()
        await embeddings.close()
