"""Admin console sessions, kept server-side in ``_mdb_engine_admin_sessions``.

The browser holds a random token in a cookie; MongoDB holds only its SHA-256, the admin's
email and an expiry (a TTL index deletes expired sessions). Every engine process therefore
knows every session, and logging out revokes it everywhere. The CSRF token of a session's
forms is derived from its token, so it needs no storage and dies with the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.collection import AsyncCollection

from mdb_engine.auth.users import normalize_email

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = [
    "ADMIN_SESSIONS_COLLECTION",
    "DEFAULT_SESSION_LIFETIME",
    "AdminSession",
    "AdminSessions",
    "csrf_token_for",
]

ADMIN_SESSIONS_COLLECTION = "admin_sessions"
"""The engine collection holding the sessions (``_mdb_engine_admin_sessions``)."""
DEFAULT_SESSION_LIFETIME = timedelta(hours=8)
_MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class AdminSession:
    """A live session: who, until when, and the CSRF token its forms must carry."""

    email: str
    expires_at: datetime
    csrf_token: str


class AdminSessions:
    """Starts, finds and revokes admin sessions."""

    def __init__(
        self, engine: MongoDBEngine, lifetime: timedelta = DEFAULT_SESSION_LIFETIME
    ) -> None:
        self._engine = engine
        self.lifetime = lifetime

    async def _collection(self) -> AsyncCollection[Mapping[str, Any]]:
        return await self._engine.system_collection(
            ADMIN_SESSIONS_COLLECTION, ttl_field="expires_at"
        )

    async def start(self, email: str) -> tuple[str, AdminSession]:
        """A new session for ``email``: its token (for the cookie) and the session."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(timezone.utc)
        expires_at = now + self.lifetime
        collection = await self._collection()
        await collection.insert_one(
            {
                "_id": _digest(token),
                "email": normalize_email(email),
                "created_at": now,
                "expires_at": expires_at,
            }
        )
        return token, AdminSession(normalize_email(email), expires_at, csrf_token_for(token))

    async def get(self, token: str | None) -> AdminSession | None:
        """The live session of ``token``, or ``None`` (unknown, expired or revoked)."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        collection = await self._collection()
        now = datetime.now(timezone.utc)
        # The TTL monitor runs once a minute: the expiry is checked here too.
        document = await collection.find_one({"_id": _digest(token), "expires_at": {"$gt": now}})
        if document is None:
            return None
        expires_at = document["expires_at"]
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=timezone.utc)  # BSON dates come back naive
        return AdminSession(str(document["email"]), expires_at, csrf_token_for(token))

    async def revoke(self, token: str | None) -> bool:
        """End the session of ``token`` in every process; whether it was live."""
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return False
        collection = await self._collection()
        result = await collection.delete_one({"_id": _digest(token)})
        return result.deleted_count == 1

    async def revoke_all(self, email: str) -> int:
        """End every session of ``email`` (a deleted account); how many there were."""
        collection = await self._collection()
        result = await collection.delete_many({"email": normalize_email(email)})
        return result.deleted_count


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: unguessable without the token, stable for its lifetime."""
    mac = hmac.new(session_token.encode(), b"mdb-engine admin csrf", hashlib.sha256)
    return mac.hexdigest()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
