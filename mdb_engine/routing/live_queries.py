"""Live queries: a client subscribes to a scoped collection with a filter and is pushed the
app's inserts, updates and deletes of the documents that match it.

Over the endpoint's WebSocket::

    -> {"type": "subscribe", "id": "s1", "collection": "tasks", "filter": {"done": false}}
    <- {"type": "subscribed", "id": "s1", "count": 3}
    <- {"type": "change", "id": "s1", "op": "insert", "document_id": "...", "document": {...}}
    <- {"type": "change", "id": "s1", "op": "update", ...}      (still matches)
    <- {"type": "change", "id": "s1", "op": "remove", "document_id": "..."}  (deleted, or
                                                                 no longer matches)
    -> {"type": "unsubscribe", "id": "s1"}

Everything goes through the app's scoped collection, so the filter obeys the sandbox rules
(a refused operator is an error reply) and only the app's documents are seen. Authorization
is checked once, at subscribe time: ``check(subject, collection, "read")`` of the app's
provider, when it has one. Whether a changed document matches is asked of MongoDB (one
``find_one`` by ``_id`` and the filter), never re-implemented here; the ids that match are
remembered so that a delete can be told apart from a document of no interest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pymongo.errors import OperationFailure, PyMongoError

from mdb_engine.auth.app_state import AUTHZ_STATE
from mdb_engine.core.change_watcher import NO_CHANGE_STREAM_CODES
from mdb_engine.database import ScopedCollection
from mdb_engine.errors import MDBEngineError
from mdb_engine.routing.connection import Connection
from mdb_engine.routing.messages import encode_message

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = ["MAX_LIVE_MATCHES", "LiveQueries"]

logger = logging.getLogger(__name__)

MAX_LIVE_MATCHES = 10_000
_MAX_SUBSCRIPTIONS = 20


class LiveQueries:
    """The subscriptions of one connection."""

    def __init__(self, engine: MongoDBEngine, connection: Connection) -> None:
        self._engine = engine
        self._connection = connection
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def subscribe(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, authorize and start a subscription; the reply to send."""
        sub_id, collection_name = message.get("id"), message.get("collection")
        query = message.get("filter", {})
        if not isinstance(sub_id, str) or not isinstance(collection_name, str):
            return _error(sub_id, "a subscription needs a string 'id' and 'collection'")
        if not isinstance(query, dict):
            return _error(sub_id, "'filter' must be a JSON object")
        if sub_id in self._tasks:
            return _error(sub_id, f"subscription {sub_id!r} already exists")
        if len(self._tasks) >= _MAX_SUBSCRIPTIONS:
            return _error(sub_id, f"at most {_MAX_SUBSCRIPTIONS} subscriptions per connection")
        if not await self._is_allowed(collection_name):
            return _error(sub_id, f"not allowed to read {collection_name!r}")
        try:
            collection = self._engine.get_scoped_db(self._connection.app)[collection_name]
            matching = await _matching_ids(collection, query)
            stream = await collection.watch([{"$project": {"operationType": 1, "documentKey": 1}}])
        except OperationFailure as exc:
            if exc.code in NO_CHANGE_STREAM_CODES:
                return _error(sub_id, "live queries need MongoDB change streams (a replica set)")
            return _error(sub_id, f"the filter was refused by MongoDB: {exc.details or exc}")
        except (MDBEngineError, ValueError, TypeError) as exc:
            return _error(sub_id, str(exc))
        task = asyncio.get_running_loop().create_task(
            self._follow(sub_id, collection, query, matching, stream),
            name=f"live query {self._connection.id}:{sub_id}",
        )
        self._tasks[sub_id] = task
        return {"type": "subscribed", "id": sub_id, "count": len(matching)}

    async def unsubscribe(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Stop a subscription; the reply to send."""
        sub_id = message.get("id")
        task = self._tasks.pop(sub_id, None) if isinstance(sub_id, str) else None
        if task is None:
            return _error(sub_id, f"no subscription {sub_id!r}")
        await _cancel(task)
        return {"type": "unsubscribed", "id": sub_id}

    async def close(self) -> None:
        """Stop every subscription (the client went away)."""
        tasks, self._tasks = self._tasks, {}
        for task in tasks.values():
            await _cancel(task)

    async def _is_allowed(self, collection: str) -> bool:
        app = self._connection.websocket.app
        provider = getattr(app.state, AUTHZ_STATE, None) if app is not None else None
        if provider is None:
            app_auth = self._engine.get_app_auth(self._connection.app)
            provider = app_auth.provider if app_auth is not None else None
        if provider is None:  # no authorization declared: the endpoint's auth decides
            return True
        user = self._connection.user
        subject = (user or {}).get("email") or (user or {}).get("user_id") or "anonymous"
        return bool(await provider.check(subject, collection, "read", user=user))

    async def _follow(
        self,
        sub_id: str,
        collection: ScopedCollection,
        query: dict[str, Any],
        matching: set[Any],
        stream: Any,
    ) -> None:
        try:
            async with stream:
                async for change in stream:
                    await self._apply(sub_id, collection, query, matching, change)
        except PyMongoError as exc:
            logger.warning("app %r: live query %s stopped (%s)", self._connection.app, sub_id, exc)
            self._push({"type": "error", "id": sub_id, "detail": "the live query stopped"})

    async def _apply(
        self,
        sub_id: str,
        collection: ScopedCollection,
        query: dict[str, Any],
        matching: set[Any],
        change: Mapping[str, Any],
    ) -> None:
        document_id = (change.get("documentKey") or {}).get("_id")
        if change.get("operationType") == "delete":
            document = None
        elif change.get("operationType") in ("insert", "update", "replace"):
            document = await collection.find_one({"$and": [query, {"_id": document_id}]})
        else:
            return
        if document is None:
            if document_id in matching:
                matching.discard(document_id)
                self._push(_change(sub_id, "remove", document_id))
            return
        op = "update" if document_id in matching else "insert"
        matching.add(document_id)
        self._push(_change(sub_id, op, document_id, document))

    def _push(self, message: dict[str, Any]) -> None:
        self._connection.offer(encode_message(message))


async def _matching_ids(collection: ScopedCollection, query: dict[str, Any]) -> set[Any]:
    ids = {
        document["_id"]
        async for document in collection.find(query, {"_id": 1}).limit(MAX_LIVE_MATCHES + 1)
    }
    if len(ids) > MAX_LIVE_MATCHES:
        raise ValueError(
            f"the filter matches more than {MAX_LIVE_MATCHES} documents; narrow it for a live query"
        )
    return ids


def _change(
    sub_id: str, op: str, document_id: Any, document: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "change", "id": sub_id, "op": op, "document_id": document_id}
    if document is not None:
        message["document"] = dict(document)
    return message


def _error(sub_id: Any, detail: str) -> dict[str, Any]:
    return {"type": "error", "id": sub_id, "detail": detail}


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
