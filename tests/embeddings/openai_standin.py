"""A local stand-in for an OpenAI-compatible embeddings server, on 127.0.0.1.

It answers ``POST /v1/embeddings`` (OpenAI) and
``POST /openai/deployments/{deployment}/embeddings?api-version=…`` (Azure) the way those APIs
do: ``{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [...]}],
"model": …, "usage": …}``, with deterministic vectors derived from each text. A test can queue
answers to give instead (a status, headers, a body), and reads every request it received
(the server itself is ``tests/http_standin.py``).
"""

from __future__ import annotations

import hashlib

from tests.http_standin import HTTPStandIn, QueuedAnswer, Request

__all__ = ["EmbeddingsStandIn", "QueuedAnswer", "Request", "fake_vector"]


def fake_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic vector for ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[position % len(digest)] - 128) / 128 for position in range(dimensions)]


class EmbeddingsStandIn(HTTPStandIn):
    """The server; ``with EmbeddingsStandIn() as server: server.base_url``…"""

    def __init__(self, *, dimensions: int = 8, shuffle: bool = False) -> None:
        super().__init__()
        self.dimensions = dimensions
        self.shuffle = shuffle  # answer the data items in reverse order (index still right)

    def respond(self, request: Request) -> QueuedAnswer:
        """Vectors for ``input``, as OpenAI and Azure answer them."""
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
