"""A local stand-in for an OpenAI-compatible chat completions server, on 127.0.0.1.

Answers ``POST /v1/chat/completions`` and Azure's
``POST /openai/deployments/{deployment}/chat/completions``: the reply is ``"echo: "`` plus
the last message's content, as one JSON answer or, with ``"stream": true``, as server-sent
events (one per word, then ``data: [DONE]``). A test can queue answers to give instead and
reads every request received. Runs in a thread, never blocking the test's event loop.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["ChatStandIn", "QueuedAnswer", "Request"]


@dataclass(frozen=True)
class Request:
    """One request the stand-in received."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class QueuedAnswer:
    """An answer to give instead of the normal one (bytes are sent as they are)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ChatStandIn:
    """``with ChatStandIn() as server: server.base_url``…"""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answers: deque[QueuedAnswer] = deque()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def queue(self, *answers: QueuedAnswer) -> None:
        self.answers.extend(answers)

    def __enter__(self) -> ChatStandIn:
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
        is_openai = parts == ["v1", "chat", "completions"]
        is_azure = len(parts) == 5 and parts[:2] == ["openai", "deployments"]
        if not (is_openai or is_azure) or not isinstance(request.body, dict):
            return QueuedAnswer(404, {"error": {"message": f"no route {request.path}"}})
        messages = request.body.get("messages") or []
        reply = "echo: " + str(messages[-1].get("content", "")) if messages else "echo:"
        model = request.body.get("model", parts[2] if is_azure else None)
        if request.body.get("stream"):
            events = [{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
            for position, word in enumerate(reply.split(" ")):
                piece = word if position == 0 else " " + word
                events.append({"choices": [{"index": 0, "delta": {"content": piece}}]})
            events.append({"choices": [], "usage": {"total_tokens": 3}})
            stream = "".join(f"data: {json.dumps(event)}\n\n" for event in events)
            stream += ": a comment line\n\ndata: [DONE]\n\n"
            return QueuedAnswer(200, stream.encode(), {"Content-Type": "text/event-stream"})
        return QueuedAnswer(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply},
                        "finish_reason": "stop",
                    }
                ],
            },
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests read ``requests`` instead."""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                url = urlsplit(self.path)
                headers = {key.lower(): value for key, value in self.headers.items()}
                answer = standin._answer(Request(url.path, parse_qs(url.query), headers, body))
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
