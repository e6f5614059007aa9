"""HTTP 503 while MongoDB cannot be reached, instead of a 500 and a traceback.

During a replica-set election, a restart or a network cut, PyMongo raises a
``ConnectionFailure`` (``AutoReconnect``, ``NotPrimaryError``, ``ServerSelectionTimeoutError``,
``NetworkTimeout``) after retrying once where it may. A request that meets one gets a 503 with
``Retry-After``, which clients and load balancers understand as "try again shortly"; the engine
keeps going and the next request succeeds once a primary is back.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import ConnectionFailure
from starlette.requests import Request
from starlette.responses import JSONResponse

from mdb_engine.errors import DatabaseUnavailable

__all__ = ["RETRY_AFTER_SECONDS", "database_unavailable", "install_unavailable_handler"]

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (ConnectionFailure, DatabaseUnavailable)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The 503 answer to a request that could not reach MongoDB."""
    logger.warning(
        "%s %s: the database is unavailable (%s: %s)",
        request.method,
        request.url.path,
        type(exc).__name__,
        str(exc).splitlines()[0][:300] if str(exc) else "",
    )
    return JSONResponse(
        {
            "detail": "The database is unavailable right now (a failover or a restart may be "
            "in progress); try again shortly.",
            "error": type(exc).__name__,
        },
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_unavailable_handler(app: Any) -> None:
    """Answer 503 on ``app`` (FastAPI or Starlette) when MongoDB cannot be reached; a handler
    the app registered itself for these errors is kept."""
    handlers = getattr(app, "exception_handlers", None)
    if handlers is None:
        return
    for error in UNAVAILABLE_ERRORS:
        if error not in handlers:
            app.add_exception_handler(error, database_unavailable)
    app.middleware_stack = None  # rebuilt with the handlers on the next request
