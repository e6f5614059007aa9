"""The ``MemoryStore`` protocol and the records it returns.

The shape follows Mem0's ``AsyncMemory`` (``add`` / ``search`` / ``get_all`` / ``get`` /
``update`` / ``delete`` / ``delete_all``) with two deliberate differences: ``user_id`` is a
required keyword on every call (there is no "all users"), and results are typed records
rather than ``{"results": [...]}`` dicts (``to_dict()`` gives Mem0's item shape back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from mdb_engine.errors import ConfigurationError

__all__ = [
    "ChatMessage",
    "Memory",
    "MemoryHit",
    "MemoryStore",
    "check_filters",
    "check_limit",
    "check_user_id",
    "messages_to_texts",
]

ChatMessage = Mapping[str, Any]
"""A chat message as OpenAI and Mem0 take it: ``{"role": "user", "content": "…"}``."""


@dataclass(frozen=True)
class Memory:
    """One stored memory. ``memory`` is its text (Mem0's name for it)."""

    id: str
    memory: str
    user_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """Mem0's item shape: ``{"id", "memory", "user_id", "metadata", "created_at", …}``."""
        return {
            "id": self.id,
            "memory": self.memory,
            "user_id": self.user_id,
            "metadata": dict(self.metadata),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


@dataclass(frozen=True)
class MemoryHit(Memory):
    """A memory found by ``search``; ``score`` is the cosine similarity (1 is identical)."""

    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Mem0's search item shape (the memory plus ``score``)."""
        return {**super().to_dict(), "score": self.score}


@runtime_checkable
class MemoryStore(Protocol):
    """Per-user memories of one app. Every method needs ``user_id`` and sees only its data."""

    async def add(
        self,
        messages: str | Sequence[ChatMessage],
        *,
        user_id: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Memory]:
        """Store a text, or chat messages, as memories of ``user_id``; returns what was stored."""
        ...

    async def search(
        self,
        query: str,
        *,
        user_id: str,
        limit: int = 5,
        filters: Mapping[str, Any] | None = None,
    ) -> list[MemoryHit]:
        """The ``limit`` memories of ``user_id`` closest to ``query``, best first.

        ``filters`` matches metadata fields by equality (``{"topic": "food"}``).
        """
        ...

    async def get_all(self, *, user_id: str, limit: int = 100) -> list[Memory]:
        """The newest ``limit`` memories of ``user_id``, newest first."""
        ...

    async def get(self, memory_id: str, *, user_id: str) -> Memory | None:
        """One memory of ``user_id``; ``None`` if absent or another user's."""
        ...

    async def update(
        self,
        memory_id: str,
        text: str,
        *,
        user_id: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> Memory | None:
        """Replace a memory's text (re-embedded) and, if given, its metadata; ``None`` if absent."""
        ...

    async def delete(self, memory_id: str, *, user_id: str) -> bool:
        """Delete one memory of ``user_id``; whether it existed."""
        ...

    async def delete_all(self, *, user_id: str) -> int:
        """Delete every memory of ``user_id``; how many were deleted."""
        ...

    async def aclose(self) -> None:
        """Release resources (HTTP connections, clients)."""
        ...


def check_user_id(user_id: object) -> str:
    """``user_id`` if it is a non-empty string; a missing user is an error, never "all users"."""
    if not isinstance(user_id, str) or not user_id.strip():
        raise ConfigurationError(
            f"user_id must be a non-empty string (was {user_id!r}): memories always belong "
            "to one user, and there is no way to address every user's memories at once"
        )
    return user_id


def check_limit(limit: object) -> int:
    """``limit`` if it is a positive integer (``search`` and ``get_all`` take at least one)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    return limit


def check_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata equality filters; refuses operators and the reserved keys."""
    checked: dict[str, Any] = {}
    for key, value in (filters or {}).items():
        if not isinstance(key, str) or not key or key.startswith("$") or "." in key:
            raise ValueError(f"filters take metadata field names, not {key!r}")
        if key in ("user_id", "app_id", "agent_id", "run_id"):
            raise ValueError(f"{key!r} cannot be a filter: the store sets the scope itself")
        checked[key] = value
    return checked


def messages_to_texts(messages: str | Sequence[ChatMessage]) -> list[tuple[str, str | None]]:
    """The texts to store, each with its chat role: a string is one text; chat messages give
    one text each, skipping system messages and empty contents (as Mem0 does with
    ``infer=False``)."""
    if isinstance(messages, str):
        return [(messages, None)] if messages.strip() else []
    if isinstance(messages, Mapping):
        messages = [messages]
    texts: list[tuple[str, str | None]] = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise TypeError("messages must be a string or a list of {'role', 'content'} dicts")
        role, content = message.get("role"), message.get("content")
        if role == "system" or not isinstance(content, str) or not content.strip():
            continue
        texts.append((content, role if isinstance(role, str) else None))
    return texts
