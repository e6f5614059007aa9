"""Mem0Memory: the ``MemoryStore`` interface over Mem0's ``AsyncMemory`` (the ``mem0`` extra).

Mem0 keeps memories in its own vector store (configured by its config dict), outside the
engine's scoped collections, so the adapter enforces the scope itself: every memory is
stored under the Mem0 user id ``"<slug>:<user_id>"`` (apps sharing one Mem0 store never see
each other; whitespace and ``%`` in ``user_id`` are percent-encoded, as Mem0 refuses ids with
whitespace), and ``get``/``update``/``delete`` check that the memory belongs to that user
before acting (Mem0's own methods take a bare id). ``add`` uses Mem0's LLM fact extraction
(``infer=True``) unless ``infer=False`` is given. Written and tested against mem0ai 2.2.

The config comes from ``config=`` or the ``MDB_ENGINE_MEM0_CONFIG`` environment variable (a
JSON object, or the path of a JSON file). Mem0's anonymous telemetry is turned off
(``MEM0_TELEMETRY=False``) unless the environment already sets it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import string
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mdb_engine.errors import ConfigurationError, OptionalDependencyMissing
from mdb_engine.memory.base import (
    ChatMessage,
    Memory,
    MemoryHit,
    check_filters,
    check_limit,
    check_user_id,
    messages_to_texts,
)

__all__ = [
    "CONFIG_VARIABLE",
    "EXTRA",
    "RESERVED_METADATA_KEYS",
    "Mem0Memory",
    "load_mem0_config",
]

EXTRA = "mem0"
CONFIG_VARIABLE = "MDB_ENGINE_MEM0_CONFIG"
# Mem0 lists in no useful order, so get_all and delete_all list up to this many and sort.
_LIST_LIMIT = 10_000
# Payload fields Mem0 sets itself: in metadata they would be dropped or overwrite its own.
RESERVED_METADATA_KEYS = frozenset(
    {
        "data",
        "hash",
        "text_lemmatized",
        "created_at",
        "updated_at",
        "role",
        "actor_id",
        "attributed_to",
        "expiration_date",
        "user_id",
        "agent_id",
        "run_id",
    }
)
# Everything printable but whitespace and "%" stays readable in the Mem0 user id.
_SAFE_CHARACTERS = string.punctuation.replace("%", "")


def load_mem0_config(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``config``, or the JSON in ``MDB_ENGINE_MEM0_CONFIG`` (inline or a file path)."""
    if config is not None:
        copied: dict[str, Any] = json.loads(json.dumps(config))  # the caller's stays unchanged
        return copied
    raw = os.environ.get(CONFIG_VARIABLE, "").strip()
    if not raw:
        raise ConfigurationError(
            "memory_config.provider is 'mem0' but Mem0 is not configured: set "
            f"{CONFIG_VARIABLE} to Mem0's config as JSON (or the path of a JSON file) with its "
            "'llm', 'embedder' and 'vector_store' sections, or pass mem0_config= to EngineMemory"
        )
    text = raw if raw.startswith("{") else _read(Path(raw))
    try:
        loaded = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(f"{CONFIG_VARIABLE} is not valid JSON: {error}") from error
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"{CONFIG_VARIABLE} must hold a JSON object")
    return loaded


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"{CONFIG_VARIABLE} is neither inline JSON nor a readable file: {error}"
        ) from error


def _async_memory_class() -> Any:
    os.environ.setdefault("MEM0_TELEMETRY", "False")
    try:
        module = importlib.import_module("mem0")
    except ImportError as error:
        raise OptionalDependencyMissing("the Mem0 memory provider", EXTRA, "mem0ai") from error
    return module.AsyncMemory


class Mem0Memory:
    """Per-user memories of app ``slug`` kept by Mem0.

    Pass a ready ``AsyncMemory`` as ``memory``, or let ``create`` build one from the config.
    The adapter owns it: ``aclose`` closes its clients.
    """

    def __init__(self, memory: Any, *, slug: str, infer: bool = True) -> None:
        self._memory = memory
        self.slug = slug
        self.infer = infer

    @classmethod
    async def create(
        cls,
        slug: str,
        *,
        collection: str = "memories",
        config: Mapping[str, Any] | None = None,
        infer: bool = True,
    ) -> Mem0Memory:
        """An adapter on a new ``AsyncMemory``; the vector store's collection defaults to
        ``<slug>_<collection>`` unless the config names one."""
        settings = load_mem0_config(config)
        store = settings.setdefault("vector_store", {})
        if isinstance(store, dict):
            store_config = store.setdefault("config", {})
            if isinstance(store_config, dict):
                store_config.setdefault("collection_name", f"{slug}_{collection}")
        memory_class = _async_memory_class()
        # Building connects to the vector store and may load models: not on the event loop.
        memory = await asyncio.to_thread(memory_class.from_config, settings)
        return cls(memory, slug=slug, infer=infer)

    def _owner(self, user_id: str) -> str:
        return f"{self.slug}:{quote(check_user_id(user_id), safe=_SAFE_CHARACTERS)}"

    async def add(
        self,
        messages: str | Sequence[ChatMessage],
        *,
        user_id: str,
        metadata: Mapping[str, Any] | None = None,
        infer: bool | None = None,
    ) -> list[Memory]:
        """Mem0's ``add``; returns the memories it stored, read back whole."""
        owner = self._owner(user_id)
        extra = _check_metadata(metadata)
        if not messages_to_texts(messages):
            return []
        payload: Any = messages if isinstance(messages, str) else [dict(m) for m in messages]
        answer = await self._memory.add(
            payload,
            user_id=owner,
            metadata=extra,
            infer=self.infer if infer is None else infer,
        )
        # Mem0 answers only id, text and event; the stored record has metadata and times.
        stored = []
        for item in _results(answer):
            if item.get("event", "ADD") in ("ADD", "UPDATE"):
                found = await self._owned(str(item.get("id", "")), user_id)
                if found is not None:
                    stored.append(self._record(found, user_id))
        return stored

    async def search(
        self,
        query: str,
        *,
        user_id: str,
        limit: int = 5,
        filters: Mapping[str, Any] | None = None,
    ) -> list[MemoryHit]:
        """Mem0's ``search`` within this user (``limit`` is Mem0's ``top_k``).

        ``threshold=0``: like the builtin store, the ``limit`` closest are returned however
        far they are (Mem0's default drops scores under 0.1).
        """
        owner = self._owner(user_id)
        check_limit(limit)
        scope = {**check_filters(filters), "user_id": owner}
        answer = await self._memory.search(query, top_k=limit, filters=scope, threshold=0.0)
        return [
            MemoryHit(**self._fields(item, user_id), score=float(item.get("score") or 0.0))
            for item in _results(answer)
            if item.get("user_id") == owner
        ][:limit]

    async def get_all(self, *, user_id: str, limit: int = 100) -> list[Memory]:
        """Mem0's ``get_all`` for this user, newest first (of the first 10,000 listed)."""
        owner = self._owner(user_id)
        check_limit(limit)
        answer = await self._memory.get_all(filters={"user_id": owner}, top_k=_LIST_LIMIT)
        memories = [
            self._record(item, user_id) for item in _results(answer) if item.get("user_id") == owner
        ]
        oldest = datetime.min.replace(tzinfo=timezone.utc)
        memories.sort(key=lambda memory: memory.created_at or oldest, reverse=True)
        return memories[:limit]

    async def get(self, memory_id: str, *, user_id: str) -> Memory | None:
        """The memory if it is this user's, else ``None``."""
        item = await self._owned(memory_id, user_id)
        return None if item is None else self._record(item, user_id)

    async def update(
        self,
        memory_id: str,
        text: str,
        *,
        user_id: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> Memory | None:
        """Mem0's ``update`` (the text is re-embedded), only on this user's memory.

        Unlike the builtin store, ``metadata`` is merged into the memory's: Mem0 sets the
        keys given and keeps the others (it cannot remove a key).
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a memory's text cannot be empty; delete it instead")
        extra = None if metadata is None else _check_metadata(metadata)
        if await self._owned(memory_id, user_id) is None:
            return None
        await self._memory.update(memory_id, text=text, metadata=extra)
        return await self.get(memory_id, user_id=user_id)

    async def delete(self, memory_id: str, *, user_id: str) -> bool:
        """Mem0's ``delete``, only on this user's memory."""
        if await self._owned(memory_id, user_id) is None:
            return False
        await self._memory.delete(memory_id)
        return True

    async def delete_all(self, *, user_id: str) -> int:
        """Mem0's ``delete_all`` for this user; the count is taken just before."""
        owner = self._owner(user_id)
        answer = await self._memory.get_all(filters={"user_id": owner}, top_k=_LIST_LIMIT)
        count = len(_results(answer))
        if count:
            await self._memory.delete_all(user_id=owner)
        return count

    async def aclose(self) -> None:
        """Close Mem0's history database and its vector store, LLM and embedder clients."""
        memory = self._memory
        clients = [
            getattr(getattr(memory, "vector_store", None), "client", None),
            getattr(getattr(memory, "llm", None), "client", None),
            getattr(getattr(memory, "embedding_model", None), "client", None),
        ]
        # Closing is blocking (files, locks, sockets): in a thread.
        closers = [getattr(memory, "close", None)] + [getattr(c, "close", None) for c in clients]
        await asyncio.to_thread(_call_each, closers)

    async def _owned(self, memory_id: str, user_id: str) -> dict[str, Any] | None:
        owner = self._owner(user_id)
        if not _is_memory_id(memory_id):
            return None  # Mem0's ids are UUIDs; some vector stores fail on anything else
        item = await self._memory.get(memory_id)
        if not isinstance(item, Mapping) or item.get("user_id") != owner:
            return None  # another user's or another app's: as if absent
        return dict(item)

    def _fields(self, item: Mapping[str, Any], user_id: str) -> dict[str, Any]:
        stored = item.get("metadata")
        metadata = dict(stored) if isinstance(stored, Mapping) else {}
        if isinstance(item.get("role"), str):
            metadata["role"] = item["role"]  # Mem0 keeps the chat role beside the metadata
        return {
            "id": str(item.get("id", "")),
            "memory": str(item.get("memory", "")),
            "user_id": user_id,
            "metadata": metadata,
            "created_at": _timestamp(item.get("created_at")),
            "updated_at": _timestamp(item.get("updated_at")),
        }

    def _record(self, item: Mapping[str, Any], user_id: str) -> Memory:
        return Memory(**self._fields(item, user_id))


def _check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    checked = dict(metadata or {})
    reserved = sorted(RESERVED_METADATA_KEYS.intersection(checked))
    if reserved:
        raise ValueError(
            f"metadata cannot hold {', '.join(map(repr, reserved))}: Mem0 sets these fields itself"
        )
    return checked


def _is_memory_id(memory_id: object) -> bool:
    if not isinstance(memory_id, str):
        return False
    try:
        uuid.UUID(memory_id)
    except ValueError:
        return False
    return True


def _call_each(closers: Sequence[Any]) -> None:
    for close in closers:
        if callable(close):
            close()


def _results(answer: Any) -> list[dict[str, Any]]:
    # Mem0 answers {"results": [...]} (older versions: a bare list).
    items = answer.get("results") if isinstance(answer, Mapping) else answer
    if not isinstance(items, list):
        return []
    return [dict(item) for item in items if isinstance(item, Mapping)]


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
