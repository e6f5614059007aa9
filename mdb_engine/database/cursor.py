"""Cursors over one app's documents that never hand out the driver cursor.

The queries behind them are already scoped when they are built; these wrappers only keep
PyMongo's chaining API and hide the driver objects (collection, session, client).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor

from mdb_engine.database._surface import public_names
from mdb_engine.errors import ScopeViolation

if TYPE_CHECKING:
    from mdb_engine.database.collection import ScopedCollection

__all__ = ["ScopedCommandCursor", "ScopedCursor"]

Document = Mapping[str, Any]


class ScopedCursor:
    """The cursor of ``ScopedCollection.find``, chained like PyMongo's ``AsyncCursor``."""

    __slots__ = ("__collection", "__cursor")

    def __init__(self, cursor: AsyncCursor[Any], collection: ScopedCollection) -> None:
        self.__cursor = cursor
        self.__collection = collection

    @property
    def collection(self) -> ScopedCollection:
        """The scoped collection this cursor reads."""
        return self.__collection

    @property
    def alive(self) -> bool:
        """Whether more documents may be read."""
        return self.__cursor.alive

    @property
    def retrieved(self) -> int:
        """How many documents have been read so far."""
        return self.__cursor.retrieved

    def sort(self, key_or_list: Any, direction: int | str | None = None) -> ScopedCursor:
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

    def hint(self, index: Any) -> ScopedCursor:
        """Force an index, as ``AsyncCursor.hint``."""
        self.__cursor.hint(index)
        return self

    def collation(self, collation: Any) -> ScopedCursor:
        """Set the collation, as ``AsyncCursor.collation``."""
        self.__cursor.collation(collation)
        return self

    def max_time_ms(self, max_time_ms: int | None) -> ScopedCursor:
        """Limit the server time, as ``AsyncCursor.max_time_ms``."""
        self.__cursor.max_time_ms(max_time_ms)
        return self

    def max_await_time_ms(self, max_await_time_ms: int | None) -> ScopedCursor:
        """Limit the wait of a tailable cursor, as ``AsyncCursor.max_await_time_ms``."""
        self.__cursor.max_await_time_ms(max_await_time_ms)
        return self

    def comment(self, comment: Any) -> ScopedCursor:
        """Attach a comment, as ``AsyncCursor.comment``."""
        self.__cursor.comment(comment)
        return self

    def allow_disk_use(self, allow_disk_use: bool) -> ScopedCursor:
        """Let a large sort spill to disk, as ``AsyncCursor.allow_disk_use``."""
        self.__cursor.allow_disk_use(allow_disk_use)
        return self

    def max(self, spec: Any) -> ScopedCursor:
        """Exclusive upper index bound, as ``AsyncCursor.max``."""
        self.__cursor.max(spec)
        return self

    def min(self, spec: Any) -> ScopedCursor:
        """Inclusive lower index bound, as ``AsyncCursor.min``."""
        self.__cursor.min(spec)
        return self

    def where(self, code: Any) -> ScopedCursor:
        """Refused: ``$where`` runs server-side JavaScript."""
        raise ScopeViolation("$where is not allowed in a scoped filter")

    def clone(self) -> ScopedCursor:
        """An unevaluated copy of this cursor."""
        return ScopedCursor(self.__cursor.clone(), self.__collection)

    async def rewind(self) -> ScopedCursor:
        """Start again from the first result."""
        await self.__cursor.rewind()
        return self

    async def explain(self) -> Document:
        """The server's explain output for this (scoped) query."""
        explained: Document = await self.__cursor.explain()
        return explained

    async def distinct(self, key: str) -> list[Any]:
        """Distinct values of ``key`` among this cursor's documents."""
        return await self.__cursor.distinct(key)

    async def to_list(self, length: int | None = None) -> list[Any]:
        """All (or up to ``length``) remaining documents, as ``AsyncCursor.to_list``."""
        return await self.__cursor.to_list(length)

    async def next(self) -> Any:
        """The next document; ``StopAsyncIteration`` at the end."""
        return await self.__cursor.next()

    async def close(self) -> None:
        """Close the cursor on the server."""
        await self.__cursor.close()

    def __aiter__(self) -> ScopedCursor:
        return self

    async def __anext__(self) -> Any:
        return await self.__cursor.__anext__()

    async def __aenter__(self) -> ScopedCursor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __dir__(self) -> list[str]:
        return public_names(type(self))

    def __repr__(self) -> str:
        return f"ScopedCursor({self.__collection!r})"


class ScopedCommandCursor:
    """The cursor of ``aggregate``, ``list_indexes`` and ``list_collections``, as PyMongo's
    ``AsyncCommandCursor``. ``transform`` rewrites each document on its way out (the logical
    collection names of ``list_collections``)."""

    __slots__ = ("__cursor", "__transform")

    def __init__(
        self, cursor: AsyncCommandCursor[Any], transform: Callable[[Any], Any] | None = None
    ) -> None:
        self.__cursor = cursor
        self.__transform = transform

    @property
    def alive(self) -> bool:
        """Whether more documents may be read."""
        return self.__cursor.alive

    def batch_size(self, batch_size: int) -> ScopedCommandCursor:
        """Set the batch size of later fetches."""
        self.__cursor.batch_size(batch_size)
        return self

    async def to_list(self, length: int | None = None) -> list[Any]:
        """All (or up to ``length``) remaining documents."""
        documents = await self.__cursor.to_list(length)
        if self.__transform is None:
            return documents
        return [self.__transform(document) for document in documents]

    async def next(self) -> Any:
        """The next document; ``StopAsyncIteration`` at the end."""
        return self.__out(await self.__cursor.next())

    async def try_next(self) -> Any | None:
        """The next document if one is ready, else ``None``."""
        document = await self.__cursor.try_next()
        return None if document is None else self.__out(document)

    def __out(self, document: Any) -> Any:
        return document if self.__transform is None else self.__transform(document)

    async def close(self) -> None:
        """Close the cursor on the server."""
        await self.__cursor.close()

    def __aiter__(self) -> ScopedCommandCursor:
        return self

    async def __anext__(self) -> Any:
        return self.__out(await self.__cursor.__anext__())

    async def __aenter__(self) -> ScopedCommandCursor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __dir__(self) -> list[str]:
        return public_names(type(self))

    def __repr__(self) -> str:
        return "ScopedCommandCursor()"
