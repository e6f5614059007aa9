"""MemoryService: the builtin memory store, on the embedding service and the app's scoped db.

A memory is one document in the app's ``memory_config.collection`` (``memories``)::

    {"user_id": "u1", "content": "…", "embedding": [...], "metadata": {…},
     "created_at": datetime, "updated_at": datetime}

plus the ``app_id`` the scoped collection adds, so apps never see each other's memories;
every query the service sends carries ``user_id``, so users never see each other's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument

from mdb_engine.memory.base import (
    ChatMessage,
    Memory,
    MemoryHit,
    check_filters,
    check_limit,
    check_user_id,
    messages_to_texts,
)

if TYPE_CHECKING:
    from mdb_engine.database import ScopedCollection
    from mdb_engine.embeddings.service import EmbeddingService

__all__ = ["MemoryService"]

logger = logging.getLogger(__name__)

_SEARCH_PROJECTION = {"embedding": 0}


class MemoryService:
    """Per-user memories of one app (the ``builtin`` provider).

    ``collection`` is a name resolved through ``embeddings`` (the app's scoped database).
    ``max_memories_per_user``: when an ``add`` takes a user past it, that user's oldest
    memories are deleted (a memory service keeps learning rather than refusing).
    """

    def __init__(
        self,
        embeddings: EmbeddingService,
        *,
        collection: str = "memories",
        max_memories_per_user: int | None = None,
    ) -> None:
        if max_memories_per_user is not None and max_memories_per_user < 1:
            raise ValueError("max_memories_per_user must be at least 1")
        self.embeddings = embeddings
        self.collection_name = collection
        self.max_memories_per_user = max_memories_per_user

    def _collection(self) -> ScopedCollection:
        # Resolved on each call: an app deactivated later is refused by the engine.
        return self.embeddings.collection(self.collection_name)

    async def add(
        self,
        messages: str | Sequence[ChatMessage],
        *,
        user_id: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Memory]:
        """Store a text (one memory) or chat messages (one memory per non-system message)."""
        user_id = check_user_id(user_id)
        texts = messages_to_texts(messages)
        if not texts:
            return []
        vectors = await self.embeddings.embed([text for text, _ in texts])
        now = _now()
        documents = []
        for (text, role), vector in zip(texts, vectors, strict=True):
            extra = dict(metadata or {})
            if role is not None:
                extra.setdefault("role", role)
            documents.append(
                {
                    "user_id": user_id,
                    "content": text,
                    "embedding": vector,
                    "metadata": extra,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        result = await self._collection().insert_many(documents)
        for document, inserted_id in zip(documents, result.inserted_ids, strict=True):
            document["_id"] = inserted_id
        await self._enforce_limit(user_id)
        return [_memory(document) for document in documents]

    async def search(
        self,
        query: str,
        *,
        user_id: str,
        limit: int = 5,
        filters: Mapping[str, Any] | None = None,
    ) -> list[MemoryHit]:
        """The ``limit`` memories of ``user_id`` most similar to ``query``, best first."""
        user_id = check_user_id(user_id)
        scope: dict[str, Any] = {"user_id": user_id}
        for key, value in check_filters(filters).items():
            scope[f"metadata.{key}"] = value
        found = await self.embeddings.search(query, limit, scope, collection=self._collection())
        return [
            _hit(document)
            for document in found
            if document.get("user_id") == user_id  # fail closed, whatever the search path
        ]

    async def get_all(self, *, user_id: str, limit: int = 100) -> list[Memory]:
        """The newest ``limit`` memories of ``user_id``, newest first."""
        user_id = check_user_id(user_id)
        check_limit(limit)
        cursor = (
            self._collection()
            .find({"user_id": user_id}, _SEARCH_PROJECTION)
            .sort([("created_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return [_memory(document) async for document in cursor]

    async def get(self, memory_id: str, *, user_id: str) -> Memory | None:
        """One memory of ``user_id``, or ``None``."""
        user_id = check_user_id(user_id)
        object_id = _object_id(memory_id)
        if object_id is None:
            return None
        document = await self._collection().find_one(
            {"_id": object_id, "user_id": user_id}, _SEARCH_PROJECTION
        )
        return None if document is None else _memory(document)

    async def update(
        self,
        memory_id: str,
        text: str,
        *,
        user_id: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> Memory | None:
        """Replace the text (re-embedded) and, if given, the metadata; ``None`` if absent."""
        user_id = check_user_id(user_id)
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a memory's text cannot be empty; delete it instead")
        object_id = _object_id(memory_id)
        if object_id is None:
            return None
        vector = await self.embeddings.embed_query(text)
        changes: dict[str, Any] = {"content": text, "embedding": vector, "updated_at": _now()}
        if metadata is not None:
            changes["metadata"] = dict(metadata)
        document = await self._collection().find_one_and_update(
            {"_id": object_id, "user_id": user_id},
            {"$set": changes},
            projection=_SEARCH_PROJECTION,
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _memory(document)

    async def delete(self, memory_id: str, *, user_id: str) -> bool:
        """Delete one memory of ``user_id``; whether it existed."""
        user_id = check_user_id(user_id)
        object_id = _object_id(memory_id)
        if object_id is None:
            return False
        result = await self._collection().delete_one({"_id": object_id, "user_id": user_id})
        return result.deleted_count == 1

    async def delete_all(self, *, user_id: str) -> int:
        """Delete every memory of ``user_id``; how many."""
        user_id = check_user_id(user_id)
        result = await self._collection().delete_many({"user_id": user_id})
        return result.deleted_count

    async def aclose(self) -> None:
        """Nothing to release: the embedding service belongs to the engine."""

    async def _enforce_limit(self, user_id: str) -> None:
        limit = self.max_memories_per_user
        if limit is None:
            return
        collection = self._collection()
        cursor = (
            collection.find({"user_id": user_id}, {"_id": 1})
            .sort([("created_at", -1), ("_id", -1)])
            .skip(limit)
        )
        stale = [document["_id"] async for document in cursor]
        if stale:
            await collection.delete_many({"user_id": user_id, "_id": {"$in": stale}})
            logger.info(
                "user %r reached max_memories_per_user (%d): dropped the %d oldest",
                user_id,
                limit,
                len(stale),
            )


def _now() -> datetime:
    # MongoDB keeps milliseconds: round now so returned and stored times agree.
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _object_id(memory_id: Any) -> ObjectId | None:
    if isinstance(memory_id, ObjectId):
        return memory_id
    try:
        return ObjectId(memory_id)
    except (InvalidId, TypeError):
        return None


def _fields(document: Mapping[str, Any]) -> dict[str, Any]:
    metadata = document.get("metadata")
    return {
        "id": str(document["_id"]),
        "memory": str(document.get("content", "")),
        "user_id": str(document.get("user_id", "")),
        "metadata": dict(metadata) if isinstance(metadata, Mapping) else {},
        "created_at": _aware(document.get("created_at")),
        "updated_at": _aware(document.get("updated_at")),
    }


def _memory(document: Mapping[str, Any]) -> Memory:
    return Memory(**_fields(document))


def _hit(document: Mapping[str, Any]) -> MemoryHit:
    return MemoryHit(**_fields(document), score=float(document.get("score", 0.0)))
