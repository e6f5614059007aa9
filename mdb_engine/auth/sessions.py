"""Login sessions and their refresh tokens, stored hashed in ``_mdb_engine_sessions``.

A session is one login: it lives until it is revoked (logout, reuse detected) or its refresh
token goes unused for ``refresh_token_ttl``. Its refresh token is ``<session id>.<secret>``;
only the SHA-256 of the secret is stored (the secret is 256 random bits, so a slow hash adds
nothing). Each refresh rotates the secret and remembers the hashes of the rotated ones: a
rotated token presented again means it was stolen or replayed, and the whole session (the
token family) is revoked. Access tokens carry the session id, and every request checks the
session in MongoDB, so a logout is seen by every process at once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from mdb_engine.auth.session_cache import ActiveSessionCache
from mdb_engine.errors import ConfigurationError, InvalidToken

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["SESSIONS_COLLECTION", "IssuedSession", "SessionStore"]

logger = logging.getLogger(__name__)

SESSIONS_COLLECTION = "sessions"  # the engine collection _mdb_engine_sessions
_KEEP_ROTATED = 100  # rotated hashes remembered per session, for reuse detection


@dataclass(frozen=True)
class IssuedSession:
    """A session just started or refreshed: its id and the refresh token to hand out."""

    session_id: str
    refresh_token: str
    expires_at: datetime


class SessionStore:
    """Starts, rotates, checks and revokes the sessions of every app of one engine."""

    def __init__(
        self,
        collection: Callable[[], Awaitable[AsyncCollection[Mapping[str, Any]]]],
        refresh_token_ttl: timedelta = timedelta(days=14),
    ) -> None:
        if refresh_token_ttl <= timedelta(0):
            raise ConfigurationError("refresh_token_ttl must be positive")
        self._collection = collection
        self.refresh_token_ttl = refresh_token_ttl
        self._cache = ActiveSessionCache(collection)

    async def start(
        self,
        app: str,
        user_id: str,
        *,
        anonymous: bool = False,
        claims: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> IssuedSession:
        """A new session for ``user_id`` in ``app``; ``claims`` go into every access token
        issued for it (email, roles), so a refresh needs no user lookup."""
        now = now or _now()
        session_id = secrets.token_urlsafe(16)
        secret = secrets.token_urlsafe(32)
        expires_at = now + self.refresh_token_ttl
        await (await self._collection()).insert_one(
            {
                "_id": session_id,
                "app": app,
                "user_id": user_id,
                "anonymous": anonymous,
                "claims": dict(claims or {}),
                "created_at": now,
                "refreshed_at": now,
                "expires_at": expires_at,
                "revoked_at": None,
                "current": _digest(secret),
                "rotated": [],
            }
        )
        return IssuedSession(session_id, f"{session_id}.{secret}", expires_at)

    async def rotate(
        self, app: str, refresh_token: str, *, now: datetime | None = None
    ) -> tuple[IssuedSession, Mapping[str, Any]]:
        """Exchange a refresh token for a new one; returns it with the session document.

        Raises :class:`InvalidToken` for an unknown, expired or revoked token, and revokes the
        whole session when a token that was already rotated is presented again.
        """
        now = now or _now()
        session_id, secret = _split(refresh_token)
        presented = _digest(secret)
        new_secret = secrets.token_urlsafe(32)
        expires_at = now + self.refresh_token_ttl
        collection = await self._collection()
        session = await collection.find_one_and_update(
            {
                "_id": session_id,
                "app": app,
                "current": presented,
                "revoked_at": None,
                "expires_at": {"$gt": now},
            },
            {
                "$set": {"current": _digest(new_secret), "refreshed_at": now},
                "$max": {"expires_at": expires_at},
                "$push": {"rotated": {"$each": [presented], "$slice": -_KEEP_ROTATED}},
            },
            return_document=ReturnDocument.AFTER,
        )
        if session is not None:
            return IssuedSession(session_id, f"{session_id}.{new_secret}", expires_at), session
        stored = await collection.find_one({"_id": session_id, "app": app})
        if stored is None:
            raise InvalidToken("the refresh token is not valid")
        if presented in stored.get("rotated", ()):
            if stored.get("revoked_at") is None:
                await self._revoke(collection, {"_id": session_id}, "refresh token reused", now)
                self._cache.forget(session_id)
                logger.warning(
                    "app %r: a rotated refresh token was used again; session of user %r revoked",
                    app,
                    stored.get("user_id"),
                )
            raise InvalidToken(
                "this refresh token was already used, so the session has been revoked; log in again"
            )
        if stored.get("revoked_at") is not None:
            raise InvalidToken("the session has been revoked (logged out); log in again")
        if _aware(stored["expires_at"]) <= now:
            raise InvalidToken("the session has expired; log in again")
        raise InvalidToken("the refresh token is not valid")

    async def is_active(self, app: str, session_id: str, *, now: datetime | None = None) -> bool:
        """Whether the session is active: from memory when a change stream keeps it true,
        else looked up (see :mod:`mdb_engine.auth.session_cache`)."""
        now = now or _now()
        if self._cache.get(app, session_id, now):
            return True
        generation = await self._cache.generation()
        session = await self.get_active(app, session_id, now=now)
        if session is None:
            return False
        self._cache.remember(generation, session_id, app, _aware(session["expires_at"]))
        return True

    async def close(self) -> None:
        """Stop watching revocations."""
        await self._cache.close()

    async def get_active(
        self, app: str, session_id: str, *, now: datetime | None = None
    ) -> Mapping[str, Any] | None:
        """The session if it belongs to ``app`` and is neither revoked nor expired."""
        session = await (await self._collection()).find_one(
            {"_id": session_id}, {"app": 1, "user_id": 1, "revoked_at": 1, "expires_at": 1}
        )
        if session is None or session.get("app") != app or session.get("revoked_at"):
            return None
        if _aware(session["expires_at"]) <= (now or _now()):
            return None
        return session

    async def revoke(self, app: str, session_id: str, reason: str = "logout") -> bool:
        """Revoke one session; whether it was active."""
        collection = await self._collection()
        self._cache.forget(session_id)
        return await self._revoke(collection, {"_id": session_id, "app": app}, reason, _now()) > 0

    async def revoke_refresh_token(self, app: str, refresh_token: str) -> bool:
        """Revoke the session a refresh token belongs to (logout by refresh token)."""
        session_id, secret = _split(refresh_token)
        collection = await self._collection()
        query = {"_id": session_id, "app": app, "current": _digest(secret)}
        self._cache.forget(session_id)
        return await self._revoke(collection, query, "logout", _now()) > 0

    async def revoke_user(self, app: str, user_id: str, reason: str = "revoked") -> int:
        """Revoke every session of a user in ``app``; how many were active."""
        collection = await self._collection()
        self._cache.forget()
        return await self._revoke(collection, {"app": app, "user_id": user_id}, reason, _now())

    @staticmethod
    async def _revoke(
        collection: AsyncCollection[Mapping[str, Any]],
        query: Mapping[str, Any],
        reason: str,
        now: datetime,
    ) -> int:
        result = await collection.update_many(
            {**query, "revoked_at": None},
            {"$set": {"revoked_at": now, "revoked_reason": reason}},
        )
        return result.modified_count


def _split(refresh_token: str) -> tuple[str, str]:
    session_id, dot, secret = refresh_token.partition(".")
    if not dot or not session_id or not secret or len(refresh_token) > 256:
        raise InvalidToken("the refresh token is malformed")
    return session_id, secret


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    # The driver returns naive UTC datetimes unless the client is tz_aware.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
