"""A local stand-in for an OpenAI-compatible embeddings server, on 127.0.0.1.

It answers ``POST /v1/embeddings`` (OpenAI) and
``POST /openai/deployments/{deployment}/embeddings?api-version=…`` (Azure) the way those APIs
do: ``{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [...]}],
"model": …, "usage": …}``, with deterministic vectors derived from each text. A test can queue
answers to give instead (a status, headers, a body), and reads every request it received.
Runs in a thread (a plain ``ThreadingHTTPServer``), so it never blocks the test's event loop.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["EmbeddingsStandIn", "QueuedAnswer", "Request", "fake_vector"]


def fake_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic vector for ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[position % len(digest)] - 128) / 128 for position in range(dimensions)]


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


class EmbeddingsStandIn:
    """The server; ``with EmbeddingsStandIn() as server: server.base_url``…"""

    def __init__(self, *, dimensions: int = 8, shuffle: bool = False) -> None:
        self.dimensions = dimensions
        self.shuffle = shuffle  # answer the data items in reverse order (index still right)
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

    def __enter__(self) -> EmbeddingsStandIn:
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
        parts = request.path.strip("/").split("/")
        is_openai = parts == ["v1", "embeddings"]
        is_azure = (
            len(parts) == 4
            and parts[:2] == ["openai", "deployments"]
            and parts[3] == ("embeddings")
        )
        if request.method != "POST" or not (is_openai or is_azure):
            return QueuedAnswer(404, {"error": {"message": f"no route {request.path}"}})
        texts = request.body.get("input") if isinstance(request.body, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts:
            return QueuedAnswer(400, {"error": {"message": "'input' is required"}})
        dimensions = request.body.get("dimensions", self.dimensions)
        data = [
            {"object": "embedding", "index": index, "embedding": fake_vector(text, dimensions)}
            for index, text in enumerate(texts)
        ]
        if self.shuffle:
            data.reverse()
        model = request.body.get("model", parts[2] if is_azure else None)
        body = {"object": "list", "data": data, "model": model, "usage": {"total_tokens": 1}}
        return QueuedAnswer(200, body)

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
                request = Request(
                    method,
                    url.path,
                    parse_qs(url.query),
                    {key.lower(): value for key, value in self.headers.items()},
                    body,
                )
                answer = standin._answer(request)
                content = (
                    answer.body
                    if isinstance(answer.body, bytes)
                    else json.dumps(answer.body).encode()
                )
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        return Handler
