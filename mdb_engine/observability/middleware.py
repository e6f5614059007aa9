"""ASGI middleware that runs each request as one app and one request id."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdb_engine.observability.context import APP_ID, REQUEST_ID

__all__ = ["REQUEST_ID_HEADER", "RequestContextMiddleware"]

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is reused only if it cannot smuggle anything into a log line or header.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class RequestContextMiddleware:
    """Set ``REQUEST_ID`` (and ``APP_ID``) for each HTTP or WebSocket connection.

    The request id is the incoming ``header`` when it is a sane token, else a new one; HTTP
    responses carry it back in the same header. Lifespan events pass through untouched.
    """

    def __init__(
        self, app: ASGIApp, app_id: str | None = None, header: str = REQUEST_ID_HEADER
    ) -> None:
        self.app = app
        self.app_id = app_id
        self.header = header
        self._header_key = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the connection inside its app and request context."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        app_token = APP_ID.set(self.app_id) if self.app_id is not None else None
        request_token = REQUEST_ID.set(request_id)
        try:
            if scope["type"] == "http":
                await self.app(scope, receive, self._echoing_send(send, request_id))
            else:
                await self.app(scope, receive, send)
        finally:
            REQUEST_ID.reset(request_token)
            if app_token is not None:
                APP_ID.reset(app_token)

    def _request_id(self, scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name.lower() == self._header_key:
                candidate: str = value.decode("latin-1")
                if _SANE_REQUEST_ID.fullmatch(candidate):
                    return candidate
                break
        return uuid.uuid4().hex

    def _echoing_send(self, send: Send, request_id: str) -> Send:
        header_key = self._header_key
        header_value = request_id.encode("latin-1")

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == header_key for name, _ in headers):
                    headers.append((header_key, header_value))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_request_id
