"""FastAPI dependencies for the code of a hosted app: its slug and its sandboxed database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from mdb_engine.auth.app_state import engine_from_request
from mdb_engine.database import ScopedDatabase
from mdb_engine.errors import ConfigurationError

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = ["APP_SLUG_STATE", "get_app_db", "get_app_slug", "get_engine", "set_app_slug"]

APP_SLUG_STATE = "mdb_engine_app_slug"


def set_app_slug(app: Any, slug: str) -> None:
    """Mark the FastAPI ``app`` as serving app ``slug`` (the host does this for each app)."""
    setattr(app.state, APP_SLUG_STATE, slug)


def get_app_slug(connection: HTTPConnection) -> str:
    """The slug of the hosted app this request (or WebSocket) reached."""
    slug: str | None = getattr(connection.app.state, APP_SLUG_STATE, None)
    if slug is None:
        raise ConfigurationError(
            "get_app_db/get_app_slug serve the apps of `mdb-engine serve` (mounted under "
            "/apps/<slug>); elsewhere use engine.get_scoped_db(slug)"
        )
    return slug


def get_app_db(connection: HTTPConnection) -> ScopedDatabase:
    """The sandboxed database of the hosted app this request reached:
    ``db: ScopedDatabase = Depends(get_app_db)``."""
    return engine_from_request(connection).get_scoped_db(get_app_slug(connection))


def get_engine(connection: HTTPConnection) -> MongoDBEngine:
    """The engine serving this request's app (for ``broadcast_to_app`` and the like)."""
    return engine_from_request(connection)
