"""EngineMemory: one memory store per app of an engine, built from its ``memory_config``.

The engine holds one ``EngineMemory`` beside its ``EngineEmbeddings`` (no module globals).
A store is built on first use and kept until the app's memory settings change, the app is
forgotten, or the registry is closed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mdb_engine.errors import ConfigurationError
from mdb_engine.memory.mem0 import Mem0Memory
from mdb_engine.memory.service import MemoryService

if TYPE_CHECKING:
    from mdb_engine.core.manifest import AppManifest
    from mdb_engine.embeddings.service import EmbeddingService
    from mdb_engine.memory.base import MemoryStore

__all__ = ["EngineMemory"]


class EngineMemory:
    """The memory stores of one engine's apps.

    ``mem0_config`` is Mem0's config for apps whose manifest picks ``provider: "mem0"``
    (default: the ``MDB_ENGINE_MEM0_CONFIG`` environment variable).
    """

    def __init__(self, *, mem0_config: Mapping[str, Any] | None = None) -> None:
        self._mem0_config = mem0_config
        self._stores: dict[str, tuple[str, EmbeddingService, MemoryStore]] = {}

    async def get(
        self, slug: str, manifest: AppManifest, embeddings: EmbeddingService
    ) -> MemoryStore:
        """The store of app ``slug`` as ``manifest`` configures it, using ``embeddings``
        (the app's embedding service) for the builtin provider.

        Raises ``ConfigurationError`` when memory is disabled or Mem0 is not configured,
        ``OptionalDependencyMissing`` when Mem0 is chosen without the ``mem0`` extra.
        """
        from mdb_engine.core.manifest import MemoryConfig

        config = manifest.memory_config or MemoryConfig()
        if not config.enabled:
            raise ConfigurationError(
                f"memory is disabled for app {slug!r} (memory_config.enabled is false)"
            )
        key = json.dumps(config.model_dump(mode="json"), sort_keys=True)
        current = self._stores.get(slug)
        if current is not None and _is_current(current, key, embeddings):
            return current[2]
        store: MemoryStore
        if config.provider == "mem0":
            store = await Mem0Memory.create(
                slug, collection=config.collection, config=self._mem0_config
            )
        else:
            store = MemoryService(
                embeddings,
                collection=config.collection,
                max_memories_per_user=config.max_memories_per_user,
            )
        current = self._stores.get(slug)
        if current is not None and _is_current(current, key, embeddings):
            await store.aclose()  # another caller built it meanwhile
            return current[2]
        self._stores[slug] = (key, embeddings, store)
        if current is not None:
            await current[2].aclose()
        return store

    async def forget(self, slug: str) -> None:
        """Drop app ``slug``'s store (unregistered, or its manifest changed)."""
        current = self._stores.pop(slug, None)
        if current is not None:
            await current[2].aclose()

    async def close(self) -> None:
        """Close every store (at engine shutdown)."""
        stores, self._stores = self._stores, {}
        for _, _, store in stores.values():
            await store.aclose()


def _is_current(
    entry: tuple[str, EmbeddingService, MemoryStore], key: str, embeddings: EmbeddingService
) -> bool:
    # The same settings and the same embedding service (a rebuilt service means a new store).
    return entry[0] == key and entry[1] is embeddings
