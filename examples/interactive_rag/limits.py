"""Size limits of the app's inputs, and the middleware that refuses an oversized body early."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_QUERY_CHARS",
    "MAX_RESULTS",
    "MAX_TEXT_CHARS",
    "MAX_TITLE_CHARS",
    "BodySizeLimit",
]

MAX_TEXT_CHARS = 100_000
"""A document's text, in characters (about 125 chunks: a few seconds of embedding on a CPU)."""

MAX_TITLE_CHARS = 200
MAX_QUERY_CHARS = 2_000
MAX_RESULTS = 20
"""The most chunks a search returns or a question is answered from."""

MAX_BODY_BYTES = 1024 * 1024
"""Any request body: enough for MAX_TEXT_CHARS of any script, JSON-escaped or uploaded."""


class BodySizeLimit:
    """Answers 413 to a request whose declared ``Content-Length`` exceeds ``max_bytes``,
    before any of the body is read (the text limits check the rest once it is parsed)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _declared_length(scope) > self.max_bytes:
            detail = f"the request body is larger than the limit of {self.max_bytes:,} bytes"
            body = json.dumps({"detail": detail}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    """The request's ``Content-Length`` (0 when absent or not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
