"""Each app's recent errors, kept in MongoDB so that every engine process sees the same list.

An :class:`ErrorLog` is a logging handler plus a writer task. The handler takes records at
ERROR or above that belong to one of its engine's apps (the record's ``app_id``, else the
``APP_ID`` context variable), masks secrets, truncates long texts and queues a document; it
never waits for MongoDB. The writer task stores the queued documents in the engine
collection ``_mdb_engine_errors``, where a TTL index deletes them after ``retention``. When
the queue is full, new records are dropped and counted (:attr:`ErrorLog.dropped`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pymongo
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from mdb_engine.observability.context import APP_ID, REQUEST_ID
from mdb_engine.observability.logging import UNSET, redact

__all__ = [
    "DEFAULT_RETENTION",
    "ERRORS_COLLECTION",
    "MAX_EXCEPTION_CHARS",
    "MAX_MESSAGE_CHARS",
    "ErrorEntry",
    "ErrorLog",
    "is_error_log_handler",
]

logger = logging.getLogger(__name__)

ERRORS_COLLECTION = "errors"
"""The engine collection holding the records (``_mdb_engine_errors``)."""
DEFAULT_RETENTION = timedelta(days=7)
MAX_MESSAGE_CHARS = 2_000
MAX_EXCEPTION_CHARS = 8_000
_MAX_PENDING = 1_000
_CLOSE_TIMEOUT_SECONDS = 5.0
_TRUNCATED = "… [truncated]"

SystemCollection = Callable[..., Awaitable[AsyncCollection[Mapping[str, Any]]]]


@dataclass(frozen=True)
class ErrorEntry:
    """One stored error record."""

    app_id: str
    time: datetime
    level: str
    logger: str
    message: str
    request_id: str | None = None
    exception: str | None = None


class ErrorLog:
    """Captures one engine's app errors from the logging system and stores them in MongoDB.

    ``system_collection`` is the engine's :meth:`~MongoDBEngine.system_collection`;
    ``is_own_app`` says whether a slug is one of the engine's apps, so that two engines in one
    process each keep their own apps' errors.
    """

    def __init__(
        self,
        system_collection: SystemCollection,
        is_own_app: Callable[[str], bool],
        *,
        retention: timedelta = DEFAULT_RETENTION,
        max_pending: int = _MAX_PENDING,
    ) -> None:
        self._system_collection = system_collection
        self._is_own_app = is_own_app
        self._retention = retention
        self._max_pending = max_pending
        self._pending: deque[dict[str, Any]] = deque()
        self._pending_lock = threading.Lock()  # records may be logged from any thread
        self._dropped = 0
        self._handler = _ErrorLogHandler(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wakeup: asyncio.Event | None = None
        self._write_lock: asyncio.Lock | None = None
        self._writer: asyncio.Task[None] | None = None
        self._is_indexed = False

    @property
    def handler(self) -> logging.Handler:
        """The logging handler; :meth:`start` attaches it to the root logger."""
        return self._handler

    @property
    def dropped(self) -> int:
        """How many records were lost: queue full, or MongoDB refused the write."""
        return self._dropped

    @property
    def is_running(self) -> bool:
        """Whether the handler is attached and the writer runs."""
        return self._writer is not None

    def start(self) -> None:
        """Attach the handler to the root logger and start the writer (inside a running loop)."""
        if self._writer is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wakeup = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._is_indexed = False
        self._writer = self._loop.create_task(
            self._write_forever(self._wakeup, self._write_lock), name="mdb-engine-error-log"
        )
        logging.getLogger().addHandler(self._handler)

    async def close(self) -> None:
        """Detach the handler, store what is still queued (a few seconds at most), stop."""
        logging.getLogger().removeHandler(self._handler)
        writer, self._writer = self._writer, None
        if writer is None:
            return
        with pymongo.timeout(_CLOSE_TIMEOUT_SECONDS):
            await self.flush()  # after the writer's current write, if there is one
        writer.cancel()
        with suppress(asyncio.CancelledError):
            await writer
        self._loop = None
        self._wakeup = None
        self._write_lock = None

    async def flush(self) -> None:
        """Store every queued record now."""
        if self._write_lock is None:
            return
        async with self._write_lock:
            await self._write_pending()

    async def recent(self, slug: str, limit: int = 20) -> list[ErrorEntry]:
        """App ``slug``'s latest errors, newest first, from every engine process."""
        await self.flush()
        collection = await self._collection()
        documents = await collection.find(
            {"app_id": slug}, sort=[("time", -1), ("_id", -1)], limit=max(1, limit)
        ).to_list()
        return [_entry(document) for document in documents]

    # -- capture (any thread, never blocks) ----------------------------------------------------

    def capture(self, record: logging.LogRecord) -> None:
        """Queue ``record`` if it is an error of one of this engine's apps."""
        if self._writer is None or record.name == __name__:
            return
        app_id = _field(record, "app_id") or APP_ID.get()
        if not app_id or not self._is_own_app(app_id):
            return
        document = self._document(record, app_id)
        with self._pending_lock:
            if len(self._pending) >= self._max_pending:
                self._dropped += 1
                return
            self._pending.append(document)
        self._wake_writer()

    def _document(self, record: logging.LogRecord, app_id: str) -> dict[str, Any]:
        created = datetime.fromtimestamp(record.created, timezone.utc)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what was logged
            message = str(record.msg)
        exception = record.exc_text
        if record.exc_info and not exception:
            exception = logging.Formatter().formatException(record.exc_info)
        return {
            "app_id": app_id,
            "time": created,
            "expires_at": created + self._retention,
            "level": record.levelname,
            "logger": record.name,
            "message": _truncate(redact(message), MAX_MESSAGE_CHARS),
            "request_id": _field(record, "request_id") or REQUEST_ID.get(),
            "exception": _truncate(redact(exception), MAX_EXCEPTION_CHARS) if exception else None,
        }

    def _wake_writer(self) -> None:
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None:
            return
        if threading.get_ident() == self._loop_thread:
            wakeup.set()
            return
        with suppress(RuntimeError):  # the loop is closed: the records stay queued
            loop.call_soon_threadsafe(wakeup.set)

    # -- writer (the engine's event loop) ------------------------------------------------------

    async def _write_forever(self, wakeup: asyncio.Event, write_lock: asyncio.Lock) -> None:
        # This task's own context: whatever it logs is nobody's app error.
        APP_ID.set(None)
        REQUEST_ID.set(None)
        while True:
            await wakeup.wait()
            wakeup.clear()
            async with write_lock:
                await self._write_pending()

    async def _write_pending(self) -> None:
        with self._pending_lock:
            batch = list(self._pending)
            self._pending.clear()
        if not batch:
            return
        try:
            collection = await self._collection()
            await collection.insert_many(batch, ordered=False)
        except PyMongoError as exc:
            self._dropped += len(batch)
            logger.warning("error log: %d record(s) not stored: %s", len(batch), exc)

    async def _collection(self) -> AsyncCollection[Mapping[str, Any]]:
        collection = await self._system_collection(ERRORS_COLLECTION, ttl_field="expires_at")
        if not self._is_indexed:
            await _ensure_recent_index(collection)
            self._is_indexed = True
        return collection


class _ErrorLogHandler(logging.Handler):
    """Hands ERROR records to its :class:`ErrorLog`."""

    def __init__(self, error_log: ErrorLog) -> None:
        super().__init__(logging.ERROR)
        self._error_log = error_log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._error_log.capture(record)
        except Exception:
            self.handleError(record)


def is_error_log_handler(handler: logging.Handler) -> bool:
    """Whether ``handler`` is an error log's (it stores records, it does not print them)."""
    return isinstance(handler, _ErrorLogHandler)


async def _ensure_recent_index(collection: AsyncCollection[Mapping[str, Any]]) -> None:
    # Checked first, so that a restart with the index in place builds nothing.
    async for index in await collection.list_indexes():
        if dict(index["key"]) == {"app_id": 1, "time": -1}:
            return
    await collection.create_index([("app_id", 1), ("time", -1)], name="app_id_time")


def _field(record: logging.LogRecord, name: str) -> str | None:
    value = getattr(record, name, None)
    return value if isinstance(value, str) and value and value != UNSET else None


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + _TRUNCATED


def _entry(document: Mapping[str, Any]) -> ErrorEntry:
    created = document["time"]
    if isinstance(created, datetime) and created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)  # BSON dates come back naive
    return ErrorEntry(
        app_id=str(document["app_id"]),
        time=created,
        level=str(document.get("level", "ERROR")),
        logger=str(document.get("logger", "")),
        message=str(document.get("message", "")),
        request_id=document.get("request_id"),
        exception=document.get("exception"),
    )
