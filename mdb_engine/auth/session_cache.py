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

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure, PyMongoError

__all__ = ["ActiveSessionCache"]

logger = logging.getLogger(__name__)

_NO_CHANGE_STREAM_CODES = frozenset({40573, 40324})
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
_RETRY_FIRST_DELAY = 0.5
_RETRY_MAX_DELAY = 30.0


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
        self._is_live = False
        self._is_unsupported = False
        self._task: asyncio.Task[None] | None = None
        self._opened: asyncio.Event | None = None

    def get(self, app: str, session_id: str, now: datetime) -> bool:
        """Whether the session is known active for ``app``; ``False`` means "look it up"."""
        entry = self._active.get(session_id)
        if entry is None or not self._is_live:
            return False
        session_app, expires_at = entry
        if session_app != app or expires_at <= now:
            return False
        self._active.move_to_end(session_id)
        return True

    async def generation(self) -> int | None:
        """Call before a lookup: the generation to pass to :meth:`remember`, or ``None`` when
        nothing can be cached (no change streams, or the stream is not open yet)."""
        if self._is_unsupported:
            return None
        if self._task is None:
            self._opened = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._watch(), name="mdb-engine session watcher"
            )
        if not self._is_live and self._opened is not None:
            # The first request waits for the stream (once); later ones never wait.
            try:
                await asyncio.wait_for(self._opened.wait(), timeout=2.0)
            except asyncio.TimeoutError:
                return None
        return self._generation if self._is_live else None

    def remember(
        self, generation: int | None, session_id: str, app: str, expires_at: datetime
    ) -> None:
        """Remember a session a lookup found active, if nothing changed during the lookup."""
        if generation is None or generation != self._generation or not self._is_live:
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
        task, self._task = self._task, None
        self._is_live = False
        self.forget()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        delay = _RETRY_FIRST_DELAY
        while True:
            try:
                collection = await self._collection()
                async with await collection.watch(_WATCHED_CHANGES) as stream:
                    self.forget()
                    self._is_live = True
                    if self._opened is not None:
                        self._opened.set()
                    delay = _RETRY_FIRST_DELAY
                    async for change in stream:
                        self._apply(change)
            except OperationFailure as exc:
                if exc.code in _NO_CHANGE_STREAM_CODES:
                    self._give_up(exc)
                    return
                self._lost(exc)
            except PyMongoError as exc:
                self._lost(exc)
            finally:
                self._is_live = False
                self.forget()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_DELAY)

    def _apply(self, change: Mapping[str, Any]) -> None:
        if change.get("operationType") in ("drop", "invalidate"):
            self.forget()
            return
        key = change.get("documentKey") or {}
        self.forget(key.get("_id"))

    def _give_up(self, error: OperationFailure) -> None:
        self._is_unsupported = True
        if self._opened is not None:
            self._opened.set()
        logger.warning(
            "MongoDB has no change streams here (%s): every authenticated request looks its "
            "session up in MongoDB; use a replica set to answer from memory",
            error.details.get("errmsg") if error.details else error,
        )

    def _lost(self, error: PyMongoError) -> None:
        if self._opened is not None:
            self._opened.set()  # requests stop waiting for the stream and look sessions up
        logger.warning(
            "the session change stream failed (%s: %s); sessions are looked up in MongoDB "
            "until it is back",
            type(error).__name__,
            error,
        )
