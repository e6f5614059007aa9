"""EngineEmbeddings: one EmbeddingService per app of an engine, built from its manifest.

The engine holds one ``EngineEmbeddings`` (no module globals: two engines keep their own).
A service is built on first use and kept until the app's embedding settings or declared
vector indexes change, the app is forgotten, or the registry is closed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mdb_engine.embeddings.factory import service_for_manifest

if TYPE_CHECKING:
    from mdb_engine.core.manifest import AppManifest
    from mdb_engine.database import ScopedDatabase
    from mdb_engine.embeddings.service import EmbeddingService

__all__ = ["EngineEmbeddings"]


class EngineEmbeddings:
    """The embedding services of one engine's apps.

    ``get_scoped_db(slug)`` gives an app's scoped database (``engine.get_scoped_db``).
    """

    def __init__(self, get_scoped_db: Callable[[str], ScopedDatabase]) -> None:
        self._get_scoped_db = get_scoped_db
        self._services: dict[str, tuple[str, EmbeddingService]] = {}

    async def get(self, slug: str, manifest: AppManifest) -> EmbeddingService:
        """The service of app ``slug`` as ``manifest`` configures it.

        Raises ``ConfigurationError`` when the manifest disables embeddings or a provider
        is not configured, ``OptionalDependencyMissing`` without the ``embeddings`` extra.
        """
        key = _settings_key(manifest)
        current = self._services.get(slug)
        if current is not None and current[0] == key:
            return current[1]
        self._get_scoped_db(slug)  # refuses an unknown or inactive app before any work

        def database() -> ScopedDatabase:
            # Asked on each use: an app deactivated later is refused, not served from here.
            return self._get_scoped_db(slug)

        # Building reads the model's files (and may import its packages): not on the loop.
        service = await asyncio.to_thread(service_for_manifest, manifest, database)
        current = self._services.get(slug)
        if current is not None and current[0] == key:  # another caller built it meanwhile
            await service.aclose()
            return current[1]
        self._services[slug] = (key, service)
        if current is not None:
            await current[1].aclose()
        return service

    async def forget(self, slug: str) -> None:
        """Drop app ``slug``'s service (unregistered, or its manifest changed)."""
        current = self._services.pop(slug, None)
        if current is not None:
            await current[1].aclose()

    async def close(self) -> None:
        """Close every service (at engine shutdown)."""
        services, self._services = self._services, {}
        for _, service in services.values():
            await service.aclose()


def _settings_key(manifest: AppManifest) -> str:
    """What the service depends on: the embedding settings and the declared vector indexes."""
    config = manifest.embedding_config
    vector_specs: dict[str, Any] = {
        collection: [spec.model_dump(mode="json") for spec in specs if spec.type == "vectorSearch"]
        for collection, specs in manifest.managed_indexes.items()
    }
    settings = {
        "config": None if config is None else config.model_dump(mode="json"),
        "vector_indexes": vector_specs,
    }
    return json.dumps(settings, sort_keys=True, default=str)
