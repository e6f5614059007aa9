"""Broadcasts across worker processes, through MongoDB itself.

A broadcast is delivered to this process's connections at once and inserted into the engine
collection ``_mdb_engine_broadcasts`` (TTL-pruned after a minute) by one writer task, in
order and in batches, so that the caller does not wait for MongoDB (a failed insert is logged
with the number of broadcasts other processes missed). Every process watches that
collection with a change stream and delivers the other processes' broadcasts to its own
connections. Without change streams (a standalone server) broadcasts stay in this process,
and one warning says so.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from mdb_engine.core.change_watcher import ChangeWatcher
from mdb_engine.routing.manager import ConnectionManager

__all__ = ["BROADCASTS_COLLECTION", "BroadcastBus"]

logger = logging.getLogger(__name__)

BROADCASTS_COLLECTION = "broadcasts"
_KEEP = timedelta(minutes=1)
_OPEN_WAIT = 2.0


class BroadcastBus:
    """Publishes broadcasts to every process and delivers the others' to this one."""

    def __init__(
        self,
        collection: Callable[[], Awaitable[AsyncCollection[Mapping[str, Any]]]],
        manager: ConnectionManager,
    ) -> None:
        self._collection = collection
        self._manager = manager
        self.origin = uuid.uuid4().hex  # this process's broadcasts come back: skip them
        self._outbox: list[dict[str, Any]] = []
        self._writer: asyncio.Task[None] | None = None
        self._watcher = ChangeWatcher(
            "mdb-engine broadcast bus",
            self._open_stream,
            self._deliver,
            degraded="WebSocket broadcasts reach only the clients of the process that sends "
            "them; use a replica set to reach every worker",
        )

    @property
    def is_shared(self) -> bool:
        """Whether broadcasts reach other processes (the change stream is open)."""
        return self._watcher.is_live

    async def start(self) -> None:
        """Open the change stream (waiting briefly for it, so that a broadcast sent right
        after start-up is not missed by this process)."""
        self._watcher.start()
        await self._watcher.wait_settled(_OPEN_WAIT)

    async def publish(self, app: str, text: str, user_id: str | None) -> int:
        """Deliver here at once, then to every other process; the local delivery count."""
        delivered = self._manager.deliver(app, text, user_id)
        if self._watcher.is_unsupported:
            return delivered
        now = datetime.now(timezone.utc)
        self._outbox.append(
            {
                "app": app,
                "user_id": user_id,
                "text": text,
                "origin": self.origin,
                "created_at": now,
                "expires_at": now + _KEEP,
            }
        )
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name="mdb-engine broadcast writer"
            )
        return delivered

    async def flush(self) -> None:
        """Wait until every broadcast published so far is in MongoDB."""
        while self._writer is not None and not self._writer.done():
            await self._writer

    async def _write(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                await (await self._collection()).insert_many(batch, ordered=True)
            except PyMongoError as exc:
                logger.warning(
                    "%d broadcast(s) did not reach the other processes (%s: %s)",
                    len(batch),
                    type(exc).__name__,
                    exc,
                )

    async def close(self) -> None:
        """Write what is pending, then stop watching."""
        await self.flush()
        await self._watcher.close()

    async def _open_stream(self) -> AsyncChangeStream[Mapping[str, Any]]:
        collection = await self._collection()
        pipeline: list[dict[str, Any]] = [
            {"$match": {"operationType": "insert", "fullDocument.origin": {"$ne": self.origin}}},
            {"$project": {"fullDocument": 1}},
        ]
        return await collection.watch(pipeline)

    def _deliver(self, change: Mapping[str, Any]) -> None:
        document = change.get("fullDocument") or {}
        app, text = document.get("app"), document.get("text")
        if isinstance(app, str) and isinstance(text, str):
            self._manager.deliver(app, text, document.get("user_id"))
