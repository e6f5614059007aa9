"""Which app and which request the running code works for, in context variables.

The engine sets them around every scoped operation and HTTP request; log records and metrics
read them. Context variables follow ``await`` and tasks, so concurrent requests of two apps
never see each other's values.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["APP_ID", "REQUEST_ID", "app_context", "current_app_id", "request_context"]

APP_ID: ContextVar[str | None] = ContextVar("mdb_engine_app_id", default=None)
REQUEST_ID: ContextVar[str | None] = ContextVar("mdb_engine_request_id", default=None)


def current_app_id() -> str | None:
    """The app the running code works for, if any."""
    return APP_ID.get()


@contextmanager
def app_context(app_id: str) -> Iterator[None]:
    """Run the block as app ``app_id``."""
    token = APP_ID.set(app_id)
    try:
        yield
    finally:
        APP_ID.reset(token)


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Run the block as request ``request_id``."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)
