"""An engine's realtime side: the manifest's WebSocket routes, its connections and broadcasts."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from mdb_engine.core.manifest import AppManifest
from mdb_engine.core.manifest.models import WebSocketEndpoint
from mdb_engine.errors import ManifestError, ManifestProblem
from mdb_engine.observability.logging import RedactingFilter
from mdb_engine.routing.bus import BROADCASTS_COLLECTION, BroadcastBus
from mdb_engine.routing.connection import CLOSE_POLICY_VIOLATION, Connection
from mdb_engine.routing.live_queries import LiveQueries
from mdb_engine.routing.manager import ConnectionManager
from mdb_engine.routing.messages import encode_message
from mdb_engine.routing.ws_auth import admit

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = ["MessageHandler", "Realtime", "encode_message"]

logger = logging.getLogger(__name__)

MessageHandler = Callable[[dict[str, Any], Connection], Awaitable[Any] | Any]
_UVICORN_LOGGERS = ("uvicorn.error", "uvicorn.access")


class Realtime:
    """The WebSocket routes, connections, handlers and broadcast bus of one engine."""

    def __init__(self, engine: MongoDBEngine, *, queue_size: int = 256) -> None:
        self._engine = engine
        self.queue_size = queue_size  # messages a client may fall behind before it is closed
        self.manager = ConnectionManager()
        self.bus = BroadcastBus(self._bus_collection, self.manager)
        self._bus_started = False
        self._handlers: dict[tuple[str, str], MessageHandler] = {}
        # Per FastAPI app (by id): path -> (slug, route) of the routes added to it.
        self._routes: dict[int, dict[str, tuple[str, WebSocketRoute]]] = {}

    async def _bus_collection(self) -> Any:
        return await self._engine.system_collection(BROADCASTS_COLLECTION, ttl_field="expires_at")

    async def start(self) -> None:
        """Open the cross-process bus (once)."""
        if not self._bus_started:
            self._bus_started = True
            await self.bus.start()

    def register_routes(self, app: Any, manifest: AppManifest) -> list[str]:
        """Add the manifest's WebSocket endpoints to ``app``; the paths added.

        A path another app already serves on ``app`` is a :class:`ManifestError`.
        """
        routes = self._routes.setdefault(id(app), {})
        problems = [
            ManifestProblem(
                f"$.websockets.{name}.path",
                f"WebSocket path {endpoint.path!r} is already served by app "
                f"{routes[endpoint.path][0]!r}",
                "give each app's endpoint its own path, e.g. prefixed with the slug",
            )
            for name, endpoint in manifest.websockets.items()
            if endpoint.path in routes and routes[endpoint.path][0] != manifest.slug
        ]
        if problems:
            raise ManifestError(problems, source=f"app {manifest.slug!r}")
        self.remove_routes(app, manifest.slug)
        _redact_uvicorn_tokens()
        added = []
        for name, endpoint in manifest.websockets.items():
            route = WebSocketRoute(
                endpoint.path,
                self._endpoint(manifest.slug, name, endpoint),
                name=f"{manifest.slug}:{name}",
            )
            app.router.routes.append(route)
            routes[endpoint.path] = (manifest.slug, route)
            added.append(endpoint.path)
        return added

    def remove_routes(self, app: Any, slug: str) -> None:
        """Take app ``slug``'s WebSocket routes off ``app``."""
        routes = self._routes.get(id(app), {})
        for path, (owner, route) in list(routes.items()):
            if owner == slug:
                app.router.routes.remove(route)
                del routes[path]

    def register_message_handler(self, slug: str, endpoint: str, handler: MessageHandler) -> None:
        """Call ``handler(message, connection)`` for each JSON object a client of the
        endpoint sends; a returned value is sent back to that client."""
        self._handlers[(slug, endpoint)] = handler

    async def broadcast(self, slug: str, message: Any, user_id: str | None = None) -> int:
        """Send ``message`` to every client of app ``slug`` (or of one user) in every process;
        how many clients of this process it was queued for."""
        await self.start()
        return await self.bus.publish(slug, encode_message(message), user_id)

    async def close(self) -> None:
        """Close every connection (1001) and stop the bus."""
        for connection in self.manager.connections():
            await connection.close()
        await self.bus.close()
        self._bus_started = False

    def _endpoint(
        self, slug: str, name: str, endpoint: WebSocketEndpoint
    ) -> Callable[[WebSocket], Awaitable[None]]:
        async def serve(websocket: WebSocket) -> None:
            manifest = self._engine.get_manifest(slug)
            if manifest is None:  # unregistered since the route was added
                await websocket.close(CLOSE_POLICY_VIOLATION)
                return
            await self.start()
            admission = await admit(self._engine, websocket, manifest, endpoint)
            await websocket.accept(subprotocol=admission.subprotocol)
            metrics = self._engine.metrics
            if admission.refusal is not None:
                metrics.websocket_refused(slug)
                await websocket.close(CLOSE_POLICY_VIOLATION, admission.refusal[:120])
                return
            metrics.websocket_opened(slug)
            connection = Connection(
                websocket,
                slug,
                name,
                admission.user,
                queue_size=self.queue_size,
                ping_interval=endpoint.ping_interval,
                on_closed=self.manager.remove,
            )
            self.manager.add(connection)
            connection.start()
            live = LiveQueries(self._engine, connection)
            try:
                await self._receive(connection, live)
            finally:
                metrics.websocket_closed(slug)
                self.manager.remove(connection)
                await live.close()
                await connection.finish()

        return serve

    async def _receive(self, connection: Connection, live: LiveQueries) -> None:
        websocket = connection.websocket
        while True:
            try:
                message = await websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                connection.offer(encode_message({"type": "error", "detail": "send JSON text"}))
                continue
            await self._handle(connection, live, text)

    async def _handle(self, connection: Connection, live: LiveQueries, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            connection.offer(encode_message({"type": "error", "detail": "send a JSON object"}))
            return
        if data.get("type") == "pong":
            return
        if data.get("type") == "ping":
            connection.offer('{"type":"pong"}')
            return
        if data.get("type") in ("subscribe", "unsubscribe"):
            answer = live.subscribe if data["type"] == "subscribe" else live.unsubscribe
            connection.offer(encode_message(await answer(data)))
            return
        handler = self._handlers.get((connection.app, connection.endpoint))
        if handler is None:
            detail = "this endpoint takes no messages"
            connection.offer(encode_message({"type": "error", "detail": detail}))
            return
        try:
            reply = handler(data, connection)
            if inspect.isawaitable(reply):
                reply = await reply
        except Exception:
            logger.exception("app %r: the WebSocket message handler failed", connection.app)
            reply = {"type": "error", "detail": "the message could not be handled"}
        if reply is not None:
            connection.offer(encode_message(reply))


def _redact_uvicorn_tokens() -> None:
    # uvicorn logs each WebSocket's path with its query string, where a token may travel.
    for name in _UVICORN_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(existing, RedactingFilter) for existing in target.filters):
            target.addFilter(RedactingFilter())
