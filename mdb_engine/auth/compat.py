"""The MDB_RUNTIME seed's runtime check: ``await get_app_sub_user(request, slug, db)``."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from mdb_engine.auth.app_state import engine_from_request
from mdb_engine.auth.dependencies import unauthorized
from mdb_engine.auth.transport import access_token_from
from mdb_engine.auth.users import find_user
from mdb_engine.database import ScopedDatabase
from mdb_engine.errors import InvalidToken

__all__ = ["get_app_sub_user"]


async def get_app_sub_user(
    request: HTTPConnection, slug: str, db: ScopedDatabase | None = None
) -> dict[str, Any] | None:
    """The app user making the request, or ``None`` for a visitor.

    The token (bearer header or the app's cookie) must be valid for app ``slug``. With ``db``
    (the app's scoped database) the user is read fresh from its ``users`` collection, so a
    deleted user is no longer a user. When the manifest requires auth (``auth_required:
    true`` in 1.0, ``auth.policy.required`` in 2.0) a visitor gets HTTP 401 instead of
    ``None``.
    """
    app_auth = engine_from_request(request).get_app_auth(slug)
    if app_auth is None:  # the manifest declares no auth: everyone is a visitor
        return None
    token = access_token_from(request, slug)
    user: dict[str, Any] | None = None
    reason = "authentication required: send 'Authorization: Bearer <access token>'"
    if token is not None:
        try:
            user = await app_auth.authenticate(token)
        except InvalidToken as exc:
            reason = str(exc)
    if user is not None and db is not None and not user["anonymous"]:
        user = await _fresh_user(db, app_auth.users_config, user)
        if user is None:
            reason = "the user no longer exists"
    if user is None and app_auth.is_required:
        raise unauthorized(reason)
    if user is not None:
        request.state.user = user
    return user


async def _fresh_user(
    db: ScopedDatabase, users_config: Any, claims_user: dict[str, Any]
) -> dict[str, Any] | None:
    collection = users_config.collection if users_config is not None else "users"
    user = await find_user(db[collection], claims_user["user_id"])
    return {**user, "session_id": claims_user["session_id"]} if user else None
