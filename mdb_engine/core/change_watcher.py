"""A change stream kept open in a background task: reopened after errors, given up on a
server without change streams (standalone) with one warning naming what is degraded.

The engine's services that must learn what other processes did (revoked sessions,
broadcasts) each run one of these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.errors import OperationFailure, PyMongoError

__all__ = ["NO_CHANGE_STREAM_CODES", "ChangeWatcher"]

logger = logging.getLogger(__name__)

# Server errors meaning "no change streams here": a standalone server, a very old one.
NO_CHANGE_STREAM_CODES = frozenset({40573, 40324})
RETRY_FIRST_DELAY = 0.5
RETRY_MAX_DELAY = 30.0
CLOSE_TIMEOUT = 5.0

OpenStream = Callable[[], Awaitable[AsyncChangeStream[Mapping[str, Any]]]]


class ChangeWatcher:
    """Calls ``on_change`` for each event; ``on_reset`` whenever events may have been missed
    (the stream opened, failed or closed)."""

    def __init__(
        self,
        name: str,
        open_stream: OpenStream,
        on_change: Callable[[Mapping[str, Any]], None],
        *,
        on_reset: Callable[[], None] = lambda: None,
        degraded: str,
    ) -> None:
        self.name = name
        self._open_stream = open_stream
        self._on_change = on_change
        self._on_reset = on_reset
        self._degraded = degraded
        self._task: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()  # set once the first attempt opened or failed
        self.is_live = False
        self.is_unsupported = False

    def start(self) -> None:
        """Start watching (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name=self.name)

    async def wait_settled(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until the first attempt to open has ended."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._settled.wait(), timeout)

    async def close(self) -> None:
        """Stop watching."""
        task, self._task = self._task, None
        self.is_live = False
        if task is not None:
            task.cancel()
            # Bounded: a task stuck in the driver must not hang the engine's shutdown.
            done, pending = await asyncio.wait([task], timeout=CLOSE_TIMEOUT)
            for finished in done:
                if not finished.cancelled():
                    finished.exception()  # retrieved, so that asyncio does not report it
            if pending:
                logger.warning("%s: the watcher task did not stop in time", self.name)

    async def _watch(self) -> None:
        delay = RETRY_FIRST_DELAY
        while True:
            try:
                async with await self._open_stream() as stream:
                    self._on_reset()
                    self.is_live = True
                    self._settled.set()
                    delay = RETRY_FIRST_DELAY
                    async for change in stream:
                        self._on_change(change)
            except OperationFailure as exc:
                if exc.code in NO_CHANGE_STREAM_CODES:
                    self._give_up(exc)
                    return
                self._lost(exc)
            except PyMongoError as exc:
                self._lost(exc)
            finally:
                self.is_live = False
                self._on_reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY)

    def _give_up(self, error: OperationFailure) -> None:
        self.is_unsupported = True
        self._settled.set()
        logger.warning(
            "MongoDB has no change streams here (%s): %s",
            error.details.get("errmsg") if error.details else error,
            self._degraded,
        )

    def _lost(self, error: PyMongoError) -> None:
        self._settled.set()
        logger.warning(
            "%s: the change stream failed (%s: %s); retrying",
            self.name,
            type(error).__name__,
            error,
        )
