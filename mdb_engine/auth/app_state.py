"""Where the engine and an app's auth live on a FastAPI/Starlette app: ``app.state``.

Module-level helpers (dependencies, decorators, middleware) find the engine through the app
that serves the request, never through a module global, so two engines in one process stay
apart (ARCHITECTURE §4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from mdb_engine.errors import ConfigurationError

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = ["AUTHZ_STATE", "ENGINE_STATE", "attach_engine", "engine_from_request"]

ENGINE_STATE = "mdb_engine"
AUTHZ_STATE = "authz_provider"  # the seed's name: a custom provider set here wins


def attach_engine(app: Any, engine: MongoDBEngine) -> None:
    """Make ``engine`` the one the helpers use for requests served by ``app``."""
    current = getattr(app.state, ENGINE_STATE, None)
    if current is not None and current is not engine:
        raise ConfigurationError(
            "this FastAPI app is already attached to another MongoDBEngine; serve each "
            "engine's apps from their own FastAPI app (or mount them as sub-applications)"
        )
    setattr(app.state, ENGINE_STATE, engine)


def engine_from_request(connection: HTTPConnection) -> MongoDBEngine:
    """The engine attached to the app serving ``connection``."""
    engine: MongoDBEngine | None = getattr(connection.app.state, ENGINE_STATE, None)
    if engine is None:
        raise ConfigurationError(
            "no MongoDBEngine is attached to this FastAPI app: call "
            "`await setup_auth_from_manifest(app, engine, slug)` (or "
            "`mdb_engine.auth.attach_engine(app, engine)`) at start-up"
        )
    return engine
