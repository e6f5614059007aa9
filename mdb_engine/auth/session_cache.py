"""Which sessions are active, known in memory and kept true by a change stream.

Checking the session on every request (so that a logout takes effect everywhere, not when the
access token expires) would cost a MongoDB round trip per request. Instead each process looks
a session up once, then trusts its memory, which a change stream on the sessions collection
corrects within milliseconds of a revocation in any process. The stream is opened before a
session is first looked up, so no revocation can fall between the lookup and the stream. A
revocation made by this process is applied to its own memory at once.

Without change streams (a standalone server) nothing is cached: every check is a lookup, and
one warning says so. If the stream fails, the memory is dropped and lookups resume until the
stream is back.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection

from mdb_engine.core.change_watcher import ChangeWatcher

__all__ = ["ActiveSessionCache"]

_WATCHED_CHANGES: list[dict[str, Any]] = [
    {
        "$match": {
            "$or": [
                {"operationType": {"$in": ["delete", "replace", "drop", "invalidate"]}},
                {"updateDescription.updatedFields.revoked_at": {"$exists": True}},
            ]
        }
    },
    {"$project": {"operationType": 1, "documentKey": 1}},
]
_FIRST_OPEN_WAIT = 2.0  # seconds the first request waits for the stream, once


class ActiveSessionCache:
    """Remembers active sessions (``id -> (app, expires_at)``), forgetting revoked ones."""

    def __init__(
        self,
        collection: Callable[[], Awaitable[AsyncCollection[Mapping[str, Any]]]],
        *,
        max_entries: int = 100_000,
    ) -> None:
        self._collection = collection
        self._max_entries = max_entries
        self._active: OrderedDict[str, tuple[str, datetime]] = OrderedDict()
        self._generation = 0  # bumped whenever what is remembered may have gone stale
        self._watcher: ChangeWatcher | None = None

    def get(self, app: str, session_id: str, now: datetime) -> bool:
        """Whether the session is known active for ``app``; ``False`` means "look it up"."""
        entry = self._active.get(session_id)
        if entry is None or self._watcher is None or not self._watcher.is_live:
            return False
        session_app, expires_at = entry
        if session_app != app or expires_at <= now:
            return False
        self._active.move_to_end(session_id)
        return True

    async def generation(self) -> int | None:
        """Call before a lookup: the generation to pass to :meth:`remember`, or ``None`` when
        nothing can be cached (no change streams, or the stream is not open)."""
        if self._watcher is None:
            self._watcher = ChangeWatcher(
                "mdb-engine session watcher",
                self._open_stream,
                self._apply,
                on_reset=self.forget,
                degraded="every authenticated request looks its session up in MongoDB; use a "
                "replica set to answer from memory",
            )
            self._watcher.start()
            await self._watcher.wait_settled(_FIRST_OPEN_WAIT)
        return self._generation if self._watcher.is_live else None

    def remember(
        self, generation: int | None, session_id: str, app: str, expires_at: datetime
    ) -> None:
        """Remember a session a lookup found active, if nothing changed during the lookup."""
        if generation is None or generation != self._generation:
            return
        if self._watcher is None or not self._watcher.is_live:
            return
        self._active[session_id] = (app, expires_at)
        self._active.move_to_end(session_id)
        while len(self._active) > self._max_entries:
            self._active.popitem(last=False)

    def forget(self, session_id: str | None = None) -> None:
        """Drop one session (revoked here), or everything (``None``)."""
        self._generation += 1
        if session_id is None:
            self._active.clear()
        else:
            self._active.pop(session_id, None)

    async def close(self) -> None:
        """Stop watching and forget everything."""
        watcher, self._watcher = self._watcher, None
        self.forget()
        if watcher is not None:
            await watcher.close()

    async def _open_stream(self) -> AsyncChangeStream[Mapping[str, Any]]:
        collection = await self._collection()
        return await collection.watch(_WATCHED_CHANGES)

    def _apply(self, change: Mapping[str, Any]) -> None:
        if change.get("operationType") in ("drop", "invalidate"):
            self.forget()
            return
        key = change.get("documentKey") or {}
        self.forget(key.get("_id"))
