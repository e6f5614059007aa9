"""Read-only views of another app's collections (``data_access.read_scopes``).

A view reads the owner's documents with the owner's scope; every write through it is
refused. Whether the reader may open a view is decided by a ``ReadAccessCheck`` that the
engine supplies from both manifests, asked again on every operation so that a withdrawn
consent takes effect at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from mdb_engine.database._surface import public_names
from mdb_engine.database.collection import ScopedCollection
from mdb_engine.database.cursor import ScopedCommandCursor, ScopedCursor
from mdb_engine.database.names import physical_name
from mdb_engine.database.rewrite_pipeline import pipeline_writes, referenced_collections
from mdb_engine.errors import ScopeViolation

__all__ = ["ReadAccessCheck", "ReadOnlyCollection", "ReadOnlyDatabase"]

# (reader, owner, logical collection or None for the app as a whole) -> None, or ScopeViolation.
ReadAccessCheck = Callable[[str, str, "str | None"], None]

_WRITE_METHODS = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "bulk_write",
        "create_index",
        "create_indexes",
        "drop_index",
        "drop_indexes",
        "drop",
        "rename",
        "create_collection",
        "drop_collection",
    }
)


def _refuse_write(name: str, owner: str) -> ScopeViolation:
    return ScopeViolation(f"{name} is refused: this is a read-only view of app {owner!r}")


class ReadOnlyDatabase:
    """App ``owner``'s collections as seen by app ``reader``: read-only views."""

    __slots__ = ("__check", "__database", "__owner", "__reader")

    def __init__(
        self,
        database: AsyncDatabase[Any],
        reader: str,
        owner: str,
        check: ReadAccessCheck | None,
    ) -> None:
        if check is None:
            raise ScopeViolation(f"app {reader!r} has no cross-app read access configured")
        check(reader, owner, None)
        self.__database = database
        self.__reader = reader
        self.__owner = owner
        self.__check = check

    @property
    def app_id(self) -> str:
        """The slug of the app whose data this view reads."""
        return self.__owner

    def get_collection(self, name: str) -> ReadOnlyCollection:
        """A read-only view of the owner's logical collection ``name``."""
        self.__check(self.__reader, self.__owner, name)
        collection = self.__database.get_collection(physical_name(self.__owner, name))
        scoped = ScopedCollection(collection, self.__owner, name)
        return ReadOnlyCollection(scoped, self.__reader, self.__owner, self.__check)

    def __getitem__(self, name: str) -> ReadOnlyCollection:
        return self.get_collection(name)

    def __getattr__(self, name: str) -> ReadOnlyCollection:
        if name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if name in _WRITE_METHODS:
            raise _refuse_write(name, self.__owner)
        return self.get_collection(name)

    def __dir__(self) -> list[str]:
        return public_names(type(self))

    def __repr__(self) -> str:
        return f"ReadOnlyDatabase(reader={self.__reader!r}, owner={self.__owner!r})"


class ReadOnlyCollection:
    """A read-only view of another app's collection; every write is refused."""

    __slots__ = ("__check", "__collection", "__owner", "__reader")

    def __init__(
        self, collection: ScopedCollection, reader: str, owner: str, check: ReadAccessCheck
    ) -> None:
        self.__collection = collection
        self.__reader = reader
        self.__owner = owner
        self.__check = check

    @property
    def name(self) -> str:
        """The owner's logical collection name."""
        return self.__collection.name

    def find(self, *args: Any, **kwargs: Any) -> ScopedCursor:
        """A cursor over the owner's matching documents."""
        self.__allow()
        return self.__collection.find(*args, **kwargs)

    async def find_one(self, filter: Any | None = None, *args: Any, **kwargs: Any) -> Any:
        """The first of the owner's matching documents, or ``None``."""
        self.__allow()
        return await self.__collection.find_one(filter, *args, **kwargs)

    async def count_documents(self, filter: Mapping[str, Any], **kwargs: Any) -> int:
        """How many of the owner's documents match ``filter``."""
        self.__allow()
        return await self.__collection.count_documents(filter, **kwargs)

    async def estimated_document_count(self, **kwargs: Any) -> int:
        """The owner's document count in this collection."""
        self.__allow()
        return await self.__collection.estimated_document_count(**kwargs)

    async def distinct(
        self, key: str, filter: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Any]:
        """Distinct values of ``key`` among the owner's matching documents."""
        self.__allow()
        return await self.__collection.distinct(key, filter, **kwargs)

    async def aggregate(
        self, pipeline: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> ScopedCommandCursor:
        """An aggregation that reads only; ``$out`` and ``$merge`` are refused."""
        self.__allow()
        if pipeline_writes(pipeline):
            raise _refuse_write("an aggregation with $out or $merge", self.__owner)
        for name in sorted(referenced_collections(pipeline)):
            self.__check(self.__reader, self.__owner, name)
        return await self.__collection.aggregate(pipeline, **kwargs)

    def __allow(self) -> None:
        self.__check(self.__reader, self.__owner, self.__collection.name)

    def __getattr__(self, name: str) -> Any:
        if name in _WRITE_METHODS:
            raise _refuse_write(name, self.__owner)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return public_names(type(self))

    def __repr__(self) -> str:
        return (
            f"ReadOnlyCollection(reader={self.__reader!r}, owner={self.__owner!r}, "
            f"name={self.__collection.name!r})"
        )
