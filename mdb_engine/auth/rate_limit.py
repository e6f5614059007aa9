"""Fixed-window rate limits kept in MongoDB, so every engine process counts the same attempts.

Each window of each key is one document in the engine collection ``_mdb_engine_rate_limits``,
incremented atomically by the server; a TTL index on ``expires_at`` deletes it once its window
has ended. Two workers (or two engines on one database) therefore share one limit, with no
coordination of their own (ARCHITECTURE §3).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mdb_engine.auth._endpoint import with_request
from mdb_engine.auth.app_state import engine_from_request
from mdb_engine.errors import ConfigurationError

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = ["RATE_LIMIT_COLLECTION", "RateLimiter", "client_and_route_key", "rate_limit_auth"]

logger = logging.getLogger(__name__)

RATE_LIMIT_COLLECTION = "rate_limits"
"""The engine collection holding the counters (``_mdb_engine_rate_limits``)."""


class RateLimiter:
    """At most ``max_attempts`` hits per key in each fixed window of ``window_seconds``.

    It holds only its settings; the counts live in the engine's database, so one limiter can
    serve any number of engines and processes.
    """

    def __init__(
        self,
        max_attempts: int = 5,
        window_seconds: int = 300,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_attempts = _positive_int("max_attempts", max_attempts)
        self.window_seconds = _positive_int("window_seconds", window_seconds)
        self._clock = clock

    async def hit(self, engine: MongoDBEngine, key: str) -> tuple[bool, int]:
        """Count one attempt for ``key``: (whether it is within the limit, seconds left).

        The seconds left are those until the current window ends (at least 1): the value of
        a ``Retry-After`` header when the attempt is refused.
        """
        now = self._clock()
        start = math.floor(now / self.window_seconds) * self.window_seconds
        end = start + self.window_seconds
        collection = await engine.system_collection(RATE_LIMIT_COLLECTION, ttl_field="expires_at")
        document_id = f"{self.window_seconds}:{start}:{key}"
        update = {
            "$inc": {"count": 1},
            "$setOnInsert": {
                "key": key,
                "window_start": datetime.fromtimestamp(start, timezone.utc),
                "expires_at": datetime.fromtimestamp(end, timezone.utc),
            },
        }
        try:
            document = await collection.find_one_and_update(
                {"_id": document_id}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            # Two first attempts raced to insert the window; the other one won, so this
            # attempt is an ordinary increment of the document it wrote.
            document = await collection.find_one_and_update(
                {"_id": document_id}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        count = int(document["count"]) if document is not None else 1  # never None: upsert
        return count <= self.max_attempts, max(1, math.ceil(end - now))


def client_and_route_key(request: Request) -> str:
    """The default key: the client's IP address and the route's path template.

    Behind a reverse proxy the client address is the proxy's unless uvicorn runs with
    ``--proxy-headers`` (and ``--forwarded-allow-ips``); otherwise pass your own ``key``.
    """
    client = request.client.host if request.client is not None else "unknown"
    template = getattr(request.scope.get("route"), "path", None)
    path = request.scope.get("root_path", "") + template if template else request.url.path
    return f"{client}:{path}"


def rate_limit_auth(
    max_attempts: int = 5,
    window_seconds: int = 300,
    *,
    key: Callable[[Request], str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]:
    """Limit how often one client may call an endpoint, typically a login.

    Every attempt counts, successful or not. Past the limit the endpoint is not called and
    the client gets HTTP 429 with a ``Retry-After`` header. Place it under ``@app.post(...)``;
    the endpoint need not take a ``Request``. ``key`` maps a request to the counter it uses
    (default: client IP and route path).
    """
    if callable(max_attempts):
        raise ConfigurationError(
            "rate_limit_auth needs parentheses: write @rate_limit_auth() or "
            "@rate_limit_auth(max_attempts=5, window_seconds=300)"
        )
    if key is not None and not callable(key):
        raise ConfigurationError(f"rate_limit_auth key must be a function of the request: {key!r}")
    limiter = RateLimiter(max_attempts, window_seconds)
    key_of = key or client_and_route_key

    def decorate(endpoint: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        async def before(request: Request) -> Response | None:
            request_key = key_of(request)
            is_allowed, retry_after = await limiter.hit(engine_from_request(request), request_key)
            if is_allowed:
                return None
            logger.info("rate limit reached for %s; retry in %d s", request_key, retry_after)
            return JSONResponse(
                {"detail": f"Too many attempts: try again in {retry_after} seconds."},
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )

        return with_request(endpoint, before)

    return decorate


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive whole number, got {value!r}")
    return value
