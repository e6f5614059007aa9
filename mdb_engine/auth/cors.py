"""The manifest's ``cors`` block, applied with Starlette's ``CORSMiddleware``, also from a
start-up hook (see :mod:`mdb_engine._asgi`)."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from mdb_engine._asgi import install_middleware
from mdb_engine.core.manifest.models import CorsConfig
from mdb_engine.errors import ConfigurationError

__all__ = ["apply_cors"]

logger = logging.getLogger(__name__)


def apply_cors(app: Starlette, cors: CorsConfig | None) -> bool:
    """Add CORS handling to ``app`` as ``cors`` declares; whether it was applied.

    Nothing is applied for ``None`` or ``enabled: false``. Applying again replaces the
    earlier CORS settings rather than stacking a second middleware.
    """
    if cors is None or not cors.enabled:
        return False
    if "*" in cors.allow_origins and cors.allow_credentials:
        raise ConfigurationError(
            'cors: allow_origins ["*"] with allow_credentials true is refused by browsers '
            "(a credentialed response must name its origin); list the allowed origins, e.g. "
            '["https://app.example.com"], or set allow_credentials to false'
        )
    if not cors.allow_origins:
        logger.warning("cors is enabled with no allow_origins: every cross-origin request fails")
    middleware = Middleware(
        CORSMiddleware,
        allow_origins=list(cors.allow_origins),
        allow_methods=list(cors.allow_methods),
        allow_headers=list(cors.allow_headers),
        allow_credentials=cors.allow_credentials,
        max_age=cors.max_age,
    )
    # Outermost: preflights are answered before any other middleware (CSRF, auth) sees them,
    # and error responses get CORS headers too.
    install_middleware(app, middleware)
    return True
