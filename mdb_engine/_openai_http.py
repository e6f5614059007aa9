"""The HTTP side shared by the OpenAI-compatible clients (embeddings, chat completions).

``RetryingHTTP`` sends requests over one lazily opened ``httpx.AsyncClient`` and retries
connection failures and the statuses a client names, with exponential backoff and jitter
(``Retry-After`` is honoured, capped). What a final status means stays with each client.
httpx is imported when a sender is built, not with this module, so ``mdb_engine`` imports
without the extra that brings it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mdb_engine.errors import ConfigurationError, MDBEngineError, OptionalDependencyMissing

if TYPE_CHECKING:
    import httpx

__all__ = ["MAX_RETRY_AFTER", "RetryingHTTP", "retry_after_seconds", "server_message"]

# The longest ``Retry-After`` obeyed: a server asking for more gets this, not a hung caller.
MAX_RETRY_AFTER = 60.0


class RetryingHTTP:
    """Requests to one server, retried on connection failures and ``retried_statuses``.

    ``description`` names the server in log lines and errors; a connection failure on the last
    attempt raises ``error_type``. ``feature`` and ``extra`` name what to install when httpx is
    missing. Retries are logged at INFO on ``logger``.
    """

    def __init__(
        self,
        description: str,
        *,
        feature: str,
        extra: str,
        retried_statuses: frozenset[int],
        max_retries: int,
        backoff: float,
        timeout: float,
        error_type: type[MDBEngineError],
        logger: logging.Logger,
    ) -> None:
        if max_retries < 0:
            raise ConfigurationError(f"max_retries cannot be negative ({max_retries})")
        self._httpx = _import_httpx(feature, extra)
        self.description = description
        self.retried_statuses = retried_statuses
        self.max_retries = max_retries
        self._backoff = backoff
        self._timeout = timeout
        self._error_type = error_type
        self._logger = logger
        self._client: httpx.AsyncClient | None = None

    async def send(
        self, method: str, url: str, *, is_stream: bool = False, **options: Any
    ) -> httpx.Response:
        """The first answer that is not a retried status, or the last answer once retries are
        spent; ``options`` go to ``httpx.AsyncClient.build_request``. With ``is_stream`` the
        body is not read (the caller reads and closes the response)."""
        client = self._http_client()
        for attempt in range(self.max_retries + 1):
            is_last = attempt == self.max_retries
            request = client.build_request(method, url, **options)
            try:
                response = await client.send(request, stream=is_stream)
            except self._httpx.TimeoutException as error:
                if is_last:
                    raise self._error_type(
                        f"{self.description} did not answer within {self._timeout} s"
                    ) from error
                await self._wait(attempt, None, "timed out")
                continue
            except self._httpx.TransportError as error:
                if is_last:
                    raise self._error_type(
                        f"could not reach {self.description}: {error!r}"
                    ) from error
                await self._wait(attempt, None, f"connection failed ({error!r})")
                continue
            if response.status_code in self.retried_statuses and not is_last:
                retry_after = response.headers.get("retry-after")
                await response.aclose()
                await self._wait(attempt, retry_after, f"HTTP {response.status_code}")
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, response: httpx.Response) -> Any:
        """The JSON body of a final answer; ``error_type`` for a status still retried when the
        retries ran out, any other error status, or a body that is not JSON. A client checks
        the statuses it explains better (401, 404…) first."""
        status = response.status_code
        if status in self.retried_statuses:
            raise self._error_type(
                f"{self.description} still answered HTTP {status} after {self.max_retries} "
                f"retries: {server_message(response)}"
            )
        if status >= 400:
            raise self._error_type(
                f"{self.description} answered HTTP {status}: {server_message(response)}"
            )
        try:
            return response.json()
        except ValueError as error:
            raise self._error_type(
                f"{self.description} answered something that is not JSON"
            ) from error

    async def aclose(self) -> None:
        """Close the HTTP connections (a later request opens new ones)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self._httpx.AsyncClient(timeout=self._timeout)
        return self._client

    async def _wait(self, attempt: int, retry_after: str | None, reason: str) -> None:
        delay = retry_after_seconds(retry_after)
        if delay is None:
            delay = self._backoff * (2**attempt) * random.uniform(0.5, 1.0)
        self._logger.info(
            "%s: %s; retry %d of %d in %.2f s",
            self.description,
            reason,
            attempt + 1,
            self.max_retries,
            delay,
        )
        await asyncio.sleep(delay)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), capped; ``None`` if absent."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def server_message(response: httpx.Response) -> str:
    """The error message in an OpenAI-style error body, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "(empty body)"
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return str(body)[:200]


def _import_httpx(feature: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module("httpx")
    except ImportError as error:
        raise OptionalDependencyMissing(feature, extra, "httpx") from error
