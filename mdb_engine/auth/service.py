"""One app's authentication: log in, register, refresh, log out, and check a token.

``AppAuth`` ties the pieces together for one app: its users, the engine's sessions and the
token service. The HTTP router and the FastAPI dependencies are thin layers over it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mdb_engine.auth.providers.base import AuthorizationProvider
from mdb_engine.auth.sessions import IssuedSession, SessionStore
from mdb_engine.auth.tokens import TokenService
from mdb_engine.auth.users import UserStore
from mdb_engine.core.manifest import AppManifest
from mdb_engine.core.manifest.models_auth import AuthConfig, UsersConfig
from mdb_engine.errors import AuthError, InvalidToken

__all__ = ["ANONYMOUS_PREFIX", "AppAuth", "RegistrationClosed", "TokenPair"]

logger = logging.getLogger(__name__)

ANONYMOUS_PREFIX = "anon_"
_VERIFIED_TOKENS_KEPT = 10_000


class RegistrationClosed(AuthError):
    """The app does not let visitors register (``allow_registration: false``, HTTP 403)."""


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh hands to the client."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: str = "bearer"

    def to_json(self) -> dict[str, Any]:
        """The OAuth2-style response body."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_expires_in": self.refresh_expires_in,
        }


class AppAuth:
    """Authentication of one app's users, through the engine's shared session store."""

    def __init__(
        self,
        manifest: AppManifest,
        tokens: Callable[[], TokenService],
        sessions: SessionStore,
        users: UserStore | None,
        provider: AuthorizationProvider | None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.slug = manifest.slug
        self.config: AuthConfig = manifest.auth or AuthConfig()
        self._tokens = tokens
        self.sessions = sessions
        self.users = users
        self.provider = provider
        self._on_event = on_event or (lambda event: None)  # counted by the engine's metrics
        # Tokens whose signature and claims were checked, so that a client's next requests
        # skip the decoding; expiry is still checked on each use, the session too.
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    @property
    def tokens(self) -> TokenService:
        """The token service (its secret is resolved on first use)."""
        return self._tokens()

    @property
    def users_config(self) -> UsersConfig | None:
        """The manifest's ``auth.users`` block, when users are enabled."""
        users = self.config.users
        return users if users is not None and users.enabled else None

    @property
    def is_required(self) -> bool:
        """Whether the manifest requires a logged-in user (``auth.policy.required``)."""
        return bool(self.config.policy and self.config.policy.required)

    @property
    def is_anonymous_strategy(self) -> bool:
        """Whether visitors get an anonymous session instead of accounts."""
        users = self.users_config
        return users is not None and users.strategy == "anonymous_session"

    def _user_store(self) -> UserStore:
        if self.users is None:
            raise AuthError(
                f"app {self.slug!r} has no app users: set auth.users.enabled to true with "
                "strategy 'app_users' in its manifest"
            )
        return self.users

    async def register(
        self, email: str, password: str, name: str | None = None
    ) -> tuple[dict[str, Any], TokenPair]:
        """Create a user (if the app allows sign-up), give it the default roles, log it in."""
        users = self._user_store()
        config = self.users_config
        if config is None or not config.allow_registration:
            raise RegistrationClosed(f"registration is closed for app {self.slug!r}")
        user = await users.create(email, password, name=name)
        self._on_event("register")
        await self._link_default_roles(user)
        logger.info("app %r: user %s registered", self.slug, user["user_id"])
        return user, await self._open_session(user)

    async def login(self, email: str, password: str) -> tuple[dict[str, Any], TokenPair] | None:
        """The user and a fresh token pair, or ``None`` when the credentials are wrong."""
        user = await self._user_store().authenticate(email, password)
        if user is None:
            logger.info("app %r: failed login", self.slug)
            self._on_event("login_failed")
            return None
        logger.info("app %r: user %s logged in", self.slug, user["user_id"])
        self._on_event("login")
        return user, await self._open_session(user)

    async def start_anonymous(self) -> tuple[dict[str, Any], TokenPair]:
        """A new anonymous visitor with its own session."""
        user: dict[str, Any] = {
            "user_id": ANONYMOUS_PREFIX + secrets.token_urlsafe(12),
            "email": None,
            "name": None,
            "roles": [],
            "anonymous": True,
        }
        return user, await self._open_session(user)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token into a new pair; reuse of a rotated one revokes the session."""
        try:
            issued, session = await self.sessions.rotate(self.slug, refresh_token)
        except InvalidToken:
            self._on_event("refresh_refused")
            raise
        self._on_event("refresh")
        claims = session.get("claims") or {}
        return self._pair(str(session["user_id"]), issued, claims)

    async def logout(self, session_id: str) -> bool:
        """Revoke a session: its refresh token and access tokens stop working everywhere."""
        self._on_event("logout")
        return await self.sessions.revoke(self.slug, session_id)

    async def logout_refresh_token(self, refresh_token: str) -> bool:
        """Revoke the session a refresh token belongs to."""
        self._on_event("logout")
        return await self.sessions.revoke_refresh_token(self.slug, refresh_token)

    async def authenticate(self, access_token: str) -> dict[str, Any]:
        """The user an access token stands for; :class:`InvalidToken` if it is not valid,
        names another app, or its session was revoked."""
        claims = self._verified.get(access_token)
        if claims is None or claims["exp"] <= time.time():
            claims = self.tokens.verify(access_token, self.slug)
            self._verified[access_token] = claims
            while len(self._verified) > _VERIFIED_TOKENS_KEPT:
                self._verified.popitem(last=False)
        else:
            self._verified.move_to_end(access_token)
        session_id = claims.get("sid")
        if not isinstance(session_id, str):
            raise InvalidToken("the token is not bound to a session")
        if not await self.sessions.is_active(self.slug, session_id):
            raise InvalidToken("the session has ended (logged out or revoked); log in again")
        return {
            "user_id": claims["sub"],
            "email": claims.get("email"),
            "name": claims.get("name"),
            "roles": list(claims.get("roles", [])),
            "anonymous": bool(claims.get("anon", False)),
            "session_id": session_id,
        }

    async def _open_session(self, user: dict[str, Any]) -> TokenPair:
        claims = _claims_of(user)
        issued = await self.sessions.start(
            self.slug, user["user_id"], anonymous=bool(user.get("anonymous")), claims=claims
        )
        return self._pair(user["user_id"], issued, claims)

    def _pair(self, user_id: str, issued: IssuedSession, claims: dict[str, Any]) -> TokenPair:
        access = self.tokens.issue(self.slug, user_id, session_id=issued.session_id, claims=claims)
        return TokenPair(
            access_token=access,
            refresh_token=issued.refresh_token,
            expires_in=int(self.tokens.access_token_ttl.total_seconds()),
            refresh_expires_in=int(self.sessions.refresh_token_ttl.total_seconds()),
        )

    async def _link_default_roles(self, user: dict[str, Any]) -> None:
        assign = getattr(self.provider, "assign_default_roles", None)
        if assign is not None and user.get("email"):
            await assign(user["email"])


def _claims_of(user: dict[str, Any]) -> dict[str, Any]:
    if user.get("anonymous"):
        return {"anon": True}
    claims: dict[str, Any] = {"email": user.get("email"), "roles": list(user.get("roles", []))}
    if user.get("name"):
        claims["name"] = user["name"]
    return claims
