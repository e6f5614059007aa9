"""A change stream that carries one app's events only and hides the driver stream."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from pymongo.asynchronous.change_stream import AsyncChangeStream

from mdb_engine.database._surface import public_names

__all__ = ["ScopedChangeStream"]


class ScopedChangeStream:
    """The stream of ``watch()``, used like PyMongo's ``AsyncChangeStream``."""

    __slots__ = ("__stream",)

    def __init__(self, stream: AsyncChangeStream[Any]) -> None:
        self.__stream = stream

    @property
    def alive(self) -> bool:
        """Whether the stream is still open."""
        return self.__stream.alive

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        """The token to resume after the last event read."""
        return self.__stream.resume_token

    async def next(self) -> Any:
        """The next event, waiting for one."""
        return await self.__stream.next()

    async def try_next(self) -> Any | None:
        """The next event if one is ready, else ``None``."""
        return await self.__stream.try_next()

    async def close(self) -> None:
        """Close the stream."""
        await self.__stream.close()

    def __aiter__(self) -> ScopedChangeStream:
        return self

    async def __anext__(self) -> Any:
        return await self.__stream.__anext__()

    async def __aenter__(self) -> ScopedChangeStream:
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
        return "ScopedChangeStream()"
