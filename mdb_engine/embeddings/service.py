"""EmbeddingService: split text, embed the chunks, store them in a scoped collection, search.

A stored chunk is one document::

    {"source_id": …, "chunk_index": 0, "text": "…", "embedding": [0.01, …], "metadata": {…}}

(plus the ``app_id`` the scoped collection adds). Storing a source again replaces its chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mdb_engine.embeddings.vector_search import SearchMethod, VectorSearchSupport, vector_search
from mdb_engine.errors import ConfigurationError, EmbeddingError

if TYPE_CHECKING:
    from mdb_engine.database import ScopedCollection, ScopedDatabase
    from mdb_engine.embeddings.atlas import VectorIndex
    from mdb_engine.embeddings.providers.base import EmbeddingProvider
    from mdb_engine.embeddings.splitter import TokenSplitter

__all__ = ["EMBEDDING_FIELD", "EmbeddingService", "StoredChunks"]

EMBEDDING_FIELD = "embedding"


@dataclass(frozen=True)
class StoredChunks:
    """What ``process_and_store`` wrote: the new chunks' ids and how many old ones it removed."""

    source_id: Any
    inserted_ids: tuple[Any, ...]
    deleted_count: int

    @property
    def chunk_count(self) -> int:
        """How many chunks the text was split into."""
        return len(self.inserted_ids)


class EmbeddingService:
    """Splitting, embedding and vector search for one app.

    ``database`` (or a function returning it, asked each time) resolves collection names
    (``"chunks"``); ``default_collection`` is used when none is given (the manifest's
    ``embedding_config.collection``). ``vector_indexes`` are the manifest's vector indexes per
    collection, which ``search`` uses for ``$vectorSearch``.
    """

    def __init__(
        self,
        provider: EmbeddingProvider,
        splitter: TokenSplitter,
        *,
        database: ScopedDatabase | Callable[[], ScopedDatabase] | None = None,
        default_collection: str | None = None,
        vector_indexes: Mapping[str, Sequence[VectorIndex]] | None = None,
    ) -> None:
        self.provider = provider
        self.splitter = splitter
        self._database = database
        self.default_collection = default_collection
        self._vector_indexes = {
            name: tuple(found) for name, found in (vector_indexes or {}).items()
        }
        self.search_support = VectorSearchSupport()

    @property
    def dimensions(self) -> int | None:
        """The provider's vector length, if known yet."""
        return self.provider.dimensions

    def vector_index(self, collection: str, path: str = EMBEDDING_FIELD) -> VectorIndex | None:
        """The declared vector index on ``collection``'s ``path`` field, if any."""
        for index in self._vector_indexes.get(collection, ()):
            if index.path == path:
                return index
        return None

    async def split(self, text: str) -> list[str]:
        """The chunks of ``text`` (split in a worker thread)."""
        return await asyncio.to_thread(self.splitter.split, text)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_query() for one")
        vectors = await self.provider.embed(texts)
        if len(vectors) != len(texts):
            raise EmbeddingError(
                f"the embedding provider returned {len(vectors)} vectors for {len(texts)} texts"
            )
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return (await self.embed([text]))[0]

    async def process_and_store(
        self,
        text: str,
        source_id: Any,
        collection: ScopedCollection | str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> StoredChunks:
        """Split ``text``, embed the chunks and store them under ``source_id``.

        Earlier chunks of the same ``source_id`` in that collection are removed once the new
        ones are written (so readers never see the source missing; two concurrent calls for
        one source are not serialized). Empty text removes the source's chunks.
        """
        if source_id is None:
            raise ValueError("source_id is required: it identifies the text's chunks")
        target = self.collection(collection)
        chunks = await self.split(text)
        vectors = await self.embed(chunks) if chunks else []
        documents = [
            {
                "source_id": source_id,
                "chunk_index": position,
                "text": chunk,
                EMBEDDING_FIELD: vector,
                "metadata": dict(metadata or {}),
            }
            for position, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))
        ]
        inserted: tuple[Any, ...] = ()
        if documents:
            inserted = tuple((await target.insert_many(documents)).inserted_ids)
        stale = {"source_id": source_id, "_id": {"$nin": list(inserted)}}
        deleted = await target.delete_many(stale)
        return StoredChunks(source_id, inserted, deleted.deleted_count)

    async def search(
        self,
        query: str | Sequence[float],
        k: int = 10,
        filter: Mapping[str, Any] | None = None,
        *,
        collection: ScopedCollection | str | None = None,
        method: SearchMethod = "auto",
        num_candidates: int | None = None,
    ) -> list[dict[str, Any]]:
        """The ``k`` stored chunks most similar to ``query`` (see ``vector_search``)."""
        return await vector_search(
            self.collection(collection),
            query,
            k,
            filter,
            service=self,
            path=EMBEDDING_FIELD,
            method=method,
            num_candidates=num_candidates,
        )

    def collection(self, collection: ScopedCollection | str | None = None) -> ScopedCollection:
        """A scoped collection from a name, the default collection, or as given."""
        name = collection if collection is not None else self.default_collection
        if name is None:
            raise ConfigurationError(
                "no collection given and no default one: pass collection= or set the "
                "manifest's embedding_config.collection"
            )
        if not isinstance(name, str):
            return name
        if self._database is None:
            raise ConfigurationError(
                f"collection {name!r} given by name, but this service has no database; "
                "pass a ScopedCollection"
            )
        database = self._database() if callable(self._database) else self._database
        return database.get_collection(name)

    async def aclose(self) -> None:
        """Release the provider's resources (HTTP connections)."""
        await self.provider.aclose()
