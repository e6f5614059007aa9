"""``setup_auth_from_manifest``: wire an app's declared auth into a FastAPI app in one call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.middleware import Middleware

from mdb_engine._asgi import install_middleware
from mdb_engine.auth.cors import apply_cors
from mdb_engine.auth.dependencies import AUTH_STATE, ROUTES_PREFIX_STATE
from mdb_engine.auth.router import create_auth_router
from mdb_engine.auth.service import AppAuth
from mdb_engine.errors import AppNotRegistered, ConfigurationError
from mdb_engine.observability.middleware import RequestContextMiddleware

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = ["setup_auth_from_manifest"]


async def setup_auth_from_manifest(
    app: Any,
    engine: MongoDBEngine,
    slug: str,
    *,
    prefix: str = "/auth",
    mount_routes: bool = True,
) -> AppAuth:
    """Serve app ``slug``'s auth from the FastAPI ``app``, as its manifest declares.

    Attaches the engine (for the dependencies and helpers), mounts the user routes under
    ``prefix`` when ``auth.users`` is enabled, and applies the manifest's ``cors`` block. The
    authorization provider built from ``auth.policy`` is what ``get_authz_provider`` returns,
    unless the app has set its own on ``app.state.authz_provider``. One FastAPI app serves
    one engine app; mount several as sub-applications.
    """
    manifest = engine.get_manifest(slug)
    if manifest is None:
        raise AppNotRegistered(
            slug, "is not registered (call `await engine.register_app(...)` first)"
        )
    app_auth = engine.get_app_auth(slug)
    if app_auth is None:
        raise ConfigurationError(
            f"app {slug!r} declares no 'auth' block in its manifest: add one, e.g. "
            '"auth": {"policy": {"provider": "casbin"}, "users": {"enabled": true}}'
        )
    current: AppAuth | None = getattr(app.state, AUTH_STATE, None)
    if current is not None and current.slug != slug:
        raise ConfigurationError(
            f"this FastAPI app already serves the auth of app {current.slug!r}; serve "
            f"{slug!r} from its own FastAPI app (mounted as a sub-application)"
        )
    engine.attach(app)
    # Requests to this FastAPI app work for app `slug`: their log records say so.
    install_middleware(app, Middleware(RequestContextMiddleware, app_id=slug))
    setattr(app.state, AUTH_STATE, app_auth)
    if mount_routes and app_auth.users_config is not None and current is None:
        setattr(app.state, ROUTES_PREFIX_STATE, prefix)
        app.include_router(create_auth_router(), prefix=prefix)
    apply_cors(app, manifest.cors)
    return app_auth
