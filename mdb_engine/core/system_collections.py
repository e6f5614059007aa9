"""The engine's own collections (``_mdb_engine_*``): sessions, rate limits, buses.

They hold state every engine process must agree on. Scoped databases cannot reach them; the
engine hands them to its own services only. A collection whose documents expire gets a TTL
index the first time it is asked for, checked with ``listIndexes`` so that a restart with the
index in place sends no index-building command.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

__all__ = ["SYSTEM_PREFIX", "SystemCollections", "system_collection_name"]

SYSTEM_PREFIX = "_mdb_engine_"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def system_collection_name(name: str) -> str:
    """``_mdb_engine_<name>``; ``name`` is lower-case letters, digits and ``_``."""
    if not _NAME.match(name):
        raise ValueError(f"invalid engine collection name {name!r}: use [a-z][a-z0-9_]*")
    return SYSTEM_PREFIX + name


class SystemCollections:
    """Hands out engine collections, making sure each TTL index exists once per engine."""

    def __init__(self, database: AsyncDatabase[Mapping[str, Any]]) -> None:
        self._database = database
        self._ready: set[tuple[str, str]] = set()
        self._lock = asyncio.Lock()

    async def get(
        self, name: str, *, ttl_field: str | None = None
    ) -> AsyncCollection[Mapping[str, Any]]:
        """The collection ``_mdb_engine_<name>``.

        With ``ttl_field``, documents are deleted by the server once the date in that field
        has passed (``expireAfterSeconds: 0``).
        """
        collection = self._database[system_collection_name(name)]
        if ttl_field is not None and (name, ttl_field) not in self._ready:
            async with self._lock:
                if (name, ttl_field) not in self._ready:
                    await _ensure_ttl_index(collection, ttl_field)
                    self._ready.add((name, ttl_field))
        return collection


async def _ensure_ttl_index(collection: AsyncCollection[Mapping[str, Any]], field: str) -> None:
    async for index in await collection.list_indexes():
        if dict(index["key"]) == {field: 1} and "expireAfterSeconds" in index:
            return
    await collection.create_index([(field, 1)], expireAfterSeconds=0, name=f"{field}_ttl")
