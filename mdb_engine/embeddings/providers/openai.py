"""Embeddings from an OpenAI-compatible HTTP API: OpenAI, Azure OpenAI, or any compatible server.

Both speak the ``/embeddings`` protocol (``{"input": [...]}`` in, ``{"data": [{"index",
"embedding"}]}`` out); they differ only in the URL and the credentials. Texts go out in
batches; 408, 429 and 5xx answers and connection failures are retried with exponential
backoff (``Retry-After`` is honoured). Settings come from the arguments, then the environment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mdb_engine._openai_http import RetryingHTTP, server_message
from mdb_engine.embeddings._optional import EXTRA
from mdb_engine.errors import ConfigurationError, EmbeddingError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_AZURE_API_VERSION",
    "DEFAULT_OPENAI_BASE_URL",
    "DEFAULT_OPENAI_MODEL",
    "AzureOpenAIEmbeddingProvider",
    "OpenAIEmbeddingProvider",
]

logger = logging.getLogger(__name__)

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "text-embedding-3-small"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
# OpenAI's models whose vector length is known before the first answer.
KNOWN_DIMENSIONS: Mapping[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class _Endpoint:
    """Where the embeddings requests go and what they carry besides the texts."""

    url: str
    description: str
    key_hint: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] = field(default_factory=dict)


class _EmbeddingsAPI:
    """The HTTP side shared by OpenAI and Azure OpenAI: batching, retries, answer checks."""

    def __init__(
        self,
        endpoint: _Endpoint,
        *,
        dimensions: int | None,
        batch_size: int,
        max_retries: int,
        backoff: float,
        timeout: float,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, not {batch_size}")
        self._http = RetryingHTTP(
            endpoint.description,
            feature="the OpenAI-compatible embedding provider",
            extra=EXTRA,
            retried_statuses=_RETRIED_STATUSES,
            max_retries=max_retries,
            backoff=backoff,
            timeout=timeout,
            error_type=EmbeddingError,
            logger=logger,
        )
        self._endpoint = endpoint
        self._dimensions = dimensions
        self._batch_size = batch_size

    @property
    def dimensions(self) -> int | None:
        """The vector length: configured, known for the model, or learnt from an answer."""
        return self._dimensions

    @property
    def url(self) -> str:
        """The embeddings endpoint requests are sent to."""
        return self._endpoint.url

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; batches of ``batch_size`` texts per request."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            answer = await self._post({**self._endpoint.body, "input": batch})
            vectors.extend(self._vectors(answer, len(batch)))
        return vectors

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def _post(self, payload: Mapping[str, Any]) -> Any:
        response = await self._http.send(
            "POST",
            self._endpoint.url,
            json=payload,
            params=self._endpoint.params,
            headers=self._endpoint.headers,
        )
        return self._json(response)

    def _json(self, response: httpx.Response) -> Any:
        status = response.status_code
        where = self._endpoint.description
        if status == 401:
            raise EmbeddingError(
                f"{where} refused the API key (HTTP 401): {self._endpoint.key_hint}"
            )
        if status == 403:
            raise EmbeddingError(f"{where} denied access (HTTP 403): {server_message(response)}")
        if status == 404:
            raise EmbeddingError(
                f"{where} answered 404 Not Found for {self._endpoint.url}: check the base URL "
                f"and the model or deployment name ({server_message(response)})"
            )
        return self._http.json(response)

    def _vectors(self, answer: Any, expected: int) -> list[list[float]]:
        where = self._endpoint.description
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, list) or len(data) != expected:
            count = len(data) if isinstance(data, list) else "no"
            raise EmbeddingError(
                f"{where} answered {count} embeddings for {expected} texts "
                "(expected a 'data' list with one item per text)"
            )
        by_index: dict[int, list[float]] = {}
        for item in data:
            index = item.get("index") if isinstance(item, Mapping) else None
            vector = item.get("embedding") if isinstance(item, Mapping) else None
            if not isinstance(index, int) or not 0 <= index < expected or index in by_index:
                raise EmbeddingError(f"{where} answered an item with a bad 'index': {index!r}")
            by_index[index] = self._checked_vector(vector, where)
        return [by_index[index] for index in range(expected)]

    def _checked_vector(self, vector: Any, where: str) -> list[float]:
        if not isinstance(vector, list) or not vector:
            raise EmbeddingError(
                f"{where} answered an embedding that is not a list of numbers (was "
                "'encoding_format' ignored?)"
            )
        if not all(type(value) in (float, int) for value in vector):
            raise EmbeddingError(f"{where} answered an embedding with non-numeric values")
        if self._dimensions is None:
            self._dimensions = len(vector)
        elif len(vector) != self._dimensions:
            raise EmbeddingError(
                f"{where} answered a vector of {len(vector)} dimensions; expected "
                f"{self._dimensions}"
            )
        return [float(value) for value in vector]


class OpenAIEmbeddingProvider(_EmbeddingsAPI):
    """Embeddings from OpenAI or any server speaking its API (``POST {base_url}/embeddings``).

    ``api_key`` defaults to ``OPENAI_API_KEY`` and ``base_url`` to ``OPENAI_BASE_URL``, then to
    OpenAI itself. OpenAI needs a key; another server may need none. ``dimensions`` is sent to
    the server (the ``text-embedding-3`` models can shorten their vectors) only when given.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 128,
        max_retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 60.0,
    ) -> None:
        model = model or DEFAULT_OPENAI_MODEL
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL
        base_url = base_url.rstrip("/")
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if api_key is None and base_url == DEFAULT_OPENAI_BASE_URL:
            raise ConfigurationError(
                "the OpenAI embedding provider needs an API key: pass api_key= or set "
                "OPENAI_API_KEY (for a compatible server that needs no key, set its URL with "
                "OPENAI_BASE_URL or the manifest's embedding_config.api_base)"
            )
        body: dict[str, Any] = {"model": model, "encoding_format": "float"}
        if dimensions is not None:
            body["dimensions"] = dimensions
        endpoint = _Endpoint(
            url=f"{base_url}/embeddings",
            description=f"the embedding server at {base_url} (model {model!r})",
            key_hint="check api_key= or OPENAI_API_KEY",
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            body=body,
        )
        super().__init__(
            endpoint,
            # Another server may give a known model name to a model of its own.
            dimensions=dimensions
            or (KNOWN_DIMENSIONS.get(model) if base_url == DEFAULT_OPENAI_BASE_URL else None),
            batch_size=batch_size,
            max_retries=max_retries,
            backoff=backoff,
            timeout=timeout,
        )
        self.model = model


class AzureOpenAIEmbeddingProvider(_EmbeddingsAPI):
    """Embeddings from an Azure OpenAI deployment.

    ``POST {endpoint}/openai/deployments/{deployment}/embeddings?api-version=...`` with an
    ``api-key`` header. Defaults: ``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_ENDPOINT``,
    ``AZURE_OPENAI_EMBEDDING_DEPLOYMENT`` and ``AZURE_OPENAI_API_VERSION`` (or
    ``OPENAI_API_VERSION``, then ``DEFAULT_AZURE_API_VERSION``).
    """

    def __init__(
        self,
        deployment: str | None = None,
        *,
        api_key: str | None = None,
        endpoint: str | None = None,
        api_version: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 128,
        max_retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 60.0,
    ) -> None:
        environ = os.environ
        deployment = deployment or environ.get("AZURE_OPENAI_EMBEDDING_DEPLOYMENT")
        api_key = api_key or environ.get("AZURE_OPENAI_API_KEY")
        endpoint = endpoint or environ.get("AZURE_OPENAI_ENDPOINT")
        api_version = (
            api_version
            or environ.get("AZURE_OPENAI_API_VERSION")
            or environ.get("OPENAI_API_VERSION")
            or DEFAULT_AZURE_API_VERSION
        )
        missing = [
            hint
            for value, hint in (
                (api_key, "api_key= or AZURE_OPENAI_API_KEY"),
                (endpoint, "endpoint= (manifest: api_base) or AZURE_OPENAI_ENDPOINT"),
                (deployment, "deployment= (manifest: model) or AZURE_OPENAI_EMBEDDING_DEPLOYMENT"),
            )
            if not value
        ]
        if missing or api_key is None or endpoint is None or deployment is None:
            raise ConfigurationError(
                f"the Azure OpenAI embedding provider is not configured; set {', '.join(missing)}"
            )
        base = endpoint.rstrip("/")
        body: dict[str, Any] = {"encoding_format": "float"}
        if dimensions is not None:
            body["dimensions"] = dimensions
        super().__init__(
            _Endpoint(
                url=f"{base}/openai/deployments/{deployment}/embeddings",
                description=f"Azure OpenAI at {base} (deployment {deployment!r})",
                key_hint="check api_key= or AZURE_OPENAI_API_KEY",
                headers={"api-key": api_key},
                params={"api-version": api_version},
                body=body,
            ),
            dimensions=dimensions,
            batch_size=batch_size,
            max_retries=max_retries,
            backoff=backoff,
            timeout=timeout,
        )
        self.deployment = deployment
