"""A local stand-in for an OpenAI-compatible chat completions server, on 127.0.0.1.

Answers ``POST /v1/chat/completions`` and Azure's
``POST /openai/deployments/{deployment}/chat/completions``: the reply is ``"echo: "`` plus
the last message's content, as one JSON answer or, with ``"stream": true``, as server-sent
events (one per word, then ``data: [DONE]``). A test can queue answers to give instead and
reads every request received (the server itself is ``tests/http_standin.py``).
"""

from __future__ import annotations

import json

from tests.http_standin import HTTPStandIn, QueuedAnswer, Request

__all__ = ["ChatStandIn", "QueuedAnswer", "Request"]


class ChatStandIn(HTTPStandIn):
    """``with ChatStandIn() as server: server.base_url``…"""

    def respond(self, request: Request) -> QueuedAnswer:
        """The echo reply, as one JSON answer or as server-sent events."""
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
