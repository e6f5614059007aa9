"""Fixtures for the memory tests: the local model loaded once, apps with their memory stores,
and Mem0 configured fully offline (in-memory Qdrant, the bundled model, a local chat stand-in)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mdb_engine import MongoDBEngine
from mdb_engine.embeddings import EngineEmbeddings, LocalEmbeddingProvider
from mdb_engine.embeddings.providers.local import resolve_model_path
from mdb_engine.memory import EngineMemory, Mem0Memory, MemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "llm"))

from chat_standin import ChatStandIn


@pytest.fixture(scope="session", autouse=True)
def mem0_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Mem0 writes ``$MEM0_DIR/config.json`` when imported (default ``~/.mem0``) and sends
    telemetry unless told not to: both are pointed away before any test imports it."""
    home = tmp_path_factory.mktemp("mem0_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEM0_DIR", str(home))
        patch.setenv("MEM0_TELEMETRY", "False")
        yield home


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


@pytest.fixture
def chat_server() -> Iterator[ChatStandIn]:
    """The chat completions stand-in on 127.0.0.1: Mem0's LLM, never a real one."""
    with ChatStandIn() as server:
        yield server


@pytest.fixture
def mem0_config(chat_server: ChatStandIn, tmp_path: Path) -> dict[str, Any]:
    """Mem0's config for the tests (the one docs/memory.md shows): nothing leaves the host."""
    return {
        "vector_store": {
            "provider": "qdrant",
            "config": {"path": ":memory:", "embedding_model_dims": 384},
        },
        "embedder": {
            "provider": "huggingface",
            "config": {"model": str(resolve_model_path(None)), "embedding_dims": 384},
        },
        "llm": {
            "provider": "openai",
            "config": {
                "model": "stand-in",
                "api_key": "not-a-key",
                "openai_base_url": chat_server.base_url,
            },
        },
        "history_db_path": str(tmp_path / "mem0_history.db"),
    }


@pytest_asyncio.fixture
async def mem0_for(
    mem0_config: dict[str, Any],
) -> AsyncIterator[Callable[..., Awaitable[Mem0Memory]]]:
    """``await mem0_for("app", infer=False)``: a ``Mem0Memory`` on real mem0ai, closed after."""
    stores: list[Mem0Memory] = []

    async def build(slug: str, **options: Any) -> Mem0Memory:
        store = await Mem0Memory.create(slug, config=options.pop("config", mem0_config), **options)
        stores.append(store)
        return store

    try:
        yield build
    finally:
        for store in stores:
            await store.aclose()
