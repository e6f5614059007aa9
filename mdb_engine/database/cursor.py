"""A cursor over one app's documents that never hands out the driver cursor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.cursor import AsyncCursor

__all__ = ["ScopedCursor"]


class ScopedCursor:
    """Wraps PyMongo's ``AsyncCursor`` (already scoped) with the same chaining API."""

    __slots__ = ("__cursor",)

    def __init__(self, cursor: AsyncCursor[Mapping[str, Any]]) -> None:
        self.__cursor = cursor

    def sort(self, key_or_list: Any, direction: int | None = None) -> ScopedCursor:
        """Sort the results, as ``AsyncCursor.sort``."""
        self.__cursor.sort(key_or_list, direction)
        return self

    def skip(self, skip: int) -> ScopedCursor:
        """Skip ``skip`` results, as ``AsyncCursor.skip``."""
        self.__cursor.skip(skip)
        return self

    def limit(self, limit: int) -> ScopedCursor:
        """Return at most ``limit`` results, as ``AsyncCursor.limit``."""
        self.__cursor.limit(limit)
        return self

    def batch_size(self, batch_size: int) -> ScopedCursor:
        """Set the server batch size, as ``AsyncCursor.batch_size``."""
        self.__cursor.batch_size(batch_size)
        return self

    async def to_list(self, length: int | None = None) -> list[Mapping[str, Any]]:
        """All (or up to ``length``) remaining documents, as ``AsyncCursor.to_list``."""
        return await self.__cursor.to_list(length)

    async def close(self) -> None:
        """Close the cursor on the server."""
        await self.__cursor.close()

    def __aiter__(self) -> ScopedCursor:
        return self

    async def __anext__(self) -> Mapping[str, Any]:
        return await self.__cursor.__anext__()
