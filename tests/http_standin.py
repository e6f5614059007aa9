"""The part every local HTTP stand-in shares: a server on 127.0.0.1 in a thread, the requests
it received, and answers a test queues to be given before the normal ones.

A stand-in subclasses ``HTTPStandIn`` and says how it answers normally in ``respond``. Bodies
are JSON both ways (bytes are sent as they are). The server runs in a thread (a plain
``ThreadingHTTPServer``), so it never blocks the test's event loop.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

__all__ = ["HTTPStandIn", "QueuedAnswer", "Request"]

_StandIn = TypeVar("_StandIn", bound="HTTPStandIn")


@dataclass(frozen=True)
class Request:
    """One request the stand-in received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class QueuedAnswer:
    """An answer to give instead of the normal one: status, headers, body (bytes or JSON)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class HTTPStandIn:
    """The server; ``with SomeStandIn() as server: server.base_url``…"""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answers: deque[QueuedAnswer] = deque()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll interval: shutdown() waits for the serving loop to notice.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``…/v1``)."""
        return f"{self.origin}/v1"

    def queue(self, *answers: QueuedAnswer) -> None:
        """Give these answers, in order, before answering normally again."""
        self.answers.extend(answers)

    def respond(self, request: Request) -> QueuedAnswer:
        """The normal answer to ``request``; each stand-in says what it is."""
        raise NotImplementedError

    def __enter__(self: _StandIn) -> _StandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _answer(self, request: Request) -> QueuedAnswer:
        self.requests.append(request)
        if self.answers:
            return self.answers.popleft()
        return self.respond(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._respond("POST")

            def do_GET(self) -> None:
                self._respond("GET")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests read ``requests`` instead."""

            def _respond(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                url = urlsplit(self.path)
                headers = {key.lower(): value for key, value in self.headers.items()}
                answer = standin._answer(
                    Request(method, url.path, parse_qs(url.query), headers, body)
                )
                content = (
                    answer.body
                    if isinstance(answer.body, bytes)
                    else json.dumps(answer.body).encode()
                )
                self.send_response(answer.status)
                for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        return Handler
