"""FastAPI dependencies: the current user and the authorization provider.

They find the app's auth through ``app.state`` (set by ``setup_auth_from_manifest``), so one
process can serve several engines' apps from separate FastAPI apps.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, Response
from starlette.requests import HTTPConnection

from mdb_engine.auth.app_state import AUTHZ_STATE
from mdb_engine.auth.providers.base import AuthorizationProvider
from mdb_engine.auth.service import AppAuth, TokenPair
from mdb_engine.auth.transport import access_token_from, set_auth_cookies
from mdb_engine.errors import ConfigurationError, InvalidToken

__all__ = [
    "AUTH_STATE",
    "ROUTES_PREFIX_STATE",
    "app_auth_from",
    "authenticate_request",
    "get_authz_provider",
    "get_current_user",
    "get_optional_user",
    "refresh_cookie_path",
    "set_session_cookies",
    "unauthorized",
]

AUTH_STATE = "mdb_auth"
ROUTES_PREFIX_STATE = "mdb_auth_prefix"


def app_auth_from(connection: HTTPConnection) -> AppAuth:
    """The auth of the app serving ``connection``."""
    app_auth: AppAuth | None = getattr(connection.app.state, AUTH_STATE, None)
    if app_auth is None:
        raise ConfigurationError(
            "auth is not set up for this FastAPI app: call "
            '`await setup_auth_from_manifest(app, engine, "<slug>")` at start-up'
        )
    return app_auth


def unauthorized(detail: str) -> HTTPException:
    """A 401 that asks for a bearer token."""
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticate_request(connection: HTTPConnection) -> dict[str, Any] | None:
    """The user of a request with a valid access token, ``None`` without a token.

    An invalid, expired or revoked token raises :class:`InvalidToken`.
    """
    app_auth = app_auth_from(connection)
    token = access_token_from(connection, app_auth.slug)
    if token is None:
        return None
    user = await app_auth.authenticate(token)
    connection.state.user = user
    return user


def refresh_cookie_path(connection: HTTPConnection) -> str:
    """Where the refresh cookie is sent: the auth routes only."""
    prefix: str = getattr(connection.app.state, ROUTES_PREFIX_STATE, None) or "/"
    root_path: str = connection.scope.get("root_path", "")
    return root_path + prefix


def set_session_cookies(
    request: Request, response: Response, app_auth: AppAuth, pair: TokenPair
) -> None:
    """Hand a token pair to a browser as HttpOnly cookies."""
    set_auth_cookies(
        response,
        app_auth.slug,
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        access_max_age=pair.expires_in,
        refresh_max_age=pair.refresh_expires_in,
        refresh_path=refresh_cookie_path(request),
        secure=request.url.scheme == "https",
    )


async def get_current_user(request: Request, response: Response) -> dict[str, Any]:
    """The logged-in user (401 otherwise): ``user_id``, ``email``, ``name``, ``roles``.

    With the ``anonymous_session`` strategy a visitor without a session gets one (and its
    cookies) instead of a 401.
    """
    app_auth = app_auth_from(request)
    try:
        user = await authenticate_request(request)
    except InvalidToken as exc:
        if not app_auth.is_anonymous_strategy:
            raise unauthorized(str(exc)) from None
        user = None
    if user is not None:
        return user
    if app_auth.is_anonymous_strategy:
        user, pair = await app_auth.start_anonymous()
        set_session_cookies(request, response, app_auth, pair)
        request.state.user = user
        return user
    raise unauthorized("authentication required: send 'Authorization: Bearer <access token>'")


async def get_optional_user(request: Request) -> dict[str, Any] | None:
    """The logged-in user, or ``None`` for a visitor without a valid token."""
    try:
        return await authenticate_request(request)
    except InvalidToken:
        return None


async def get_authz_provider(request: Request) -> AuthorizationProvider:
    """The app's authorization provider: ``app.state.authz_provider`` if the app set one,
    else the one built from the manifest's ``auth.policy``."""
    custom: AuthorizationProvider | None = getattr(request.app.state, AUTHZ_STATE, None)
    if custom is not None:
        return custom
    provider = app_auth_from(request).provider
    if provider is None:
        raise ConfigurationError(
            "this app has no authorization provider: declare auth.policy.provider "
            "('casbin' or 'oso') in its manifest, or set app.state.authz_provider to an "
            "object with `async def check(subject, resource, action, user=None) -> bool`"
        )
    return provider
