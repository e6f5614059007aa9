"""The auth side of an engine: one ``AppAuth`` per registered app, built from its manifest.

The engine owns one ``EngineAuth``. When an app is registered it checks the signing secret
(a start-up error if auth needs one and it is missing), creates the authorization provider,
seeds the manifest's initial policies and creates the demo users. Demo passwords are
replaced by their Argon2 hashes before the manifest is stored or kept in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from mdb_engine.auth.passwords import PasswordHasher
from mdb_engine.auth.providers.base import AuthorizationProvider
from mdb_engine.auth.providers.factory import create_provider
from mdb_engine.auth.secret import resolve_secret_key
from mdb_engine.auth.service import AppAuth
from mdb_engine.auth.sessions import SESSIONS_COLLECTION, SessionStore
from mdb_engine.auth.tokens import TokenService
from mdb_engine.auth.users import UserStore, normalize_email
from mdb_engine.core.manifest import AppManifest, parse_manifest
from mdb_engine.database import ScopedDatabase
from mdb_engine.errors import ConfigurationError

__all__ = ["EngineAuth", "needs_tokens"]

logger = logging.getLogger(__name__)

SystemCollection = Callable[..., Awaitable[AsyncCollection[Mapping[str, Any]]]]


def needs_tokens(manifest: AppManifest) -> bool:
    """Whether the app signs or checks tokens: it requires login or has its own users."""
    auth = manifest.auth
    if auth is None:
        return False
    required = auth.policy is not None and auth.policy.required
    return required or (auth.users is not None and auth.users.enabled)


class EngineAuth:
    """Builds and keeps each app's :class:`AppAuth` for one engine."""

    def __init__(
        self,
        system_collection: SystemCollection,
        scoped_db: Callable[[str], ScopedDatabase],
        *,
        secret_key: str | None = None,
        token_service: TokenService | None = None,
        base_dir: Path | None = None,
        record_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self._system_collection = system_collection
        self._scoped_db = scoped_db
        self._secret_key = secret_key
        self._token_service = token_service
        self._base_dir = base_dir
        self._record_event = record_event or (lambda app, event: None)
        self.hasher = PasswordHasher()
        self.sessions = SessionStore(self._sessions_collection)
        self._apps: dict[str, AppAuth] = {}
        self._lock = asyncio.Lock()

    async def _sessions_collection(self) -> AsyncCollection[Mapping[str, Any]]:
        return await self._system_collection(SESSIONS_COLLECTION, ttl_field="expires_at")

    def token_service(self, slug: str) -> TokenService:
        """The engine's token service; a missing or weak secret names the app that needs it."""
        if self._token_service is None:
            try:
                self._token_service = TokenService(resolve_secret_key(self._secret_key))
            except ConfigurationError as exc:
                raise ConfigurationError(f"app {slug!r} uses auth, but {exc}") from None
        return self._token_service

    async def hash_demo_passwords(self, manifest: AppManifest) -> AppManifest:
        """The manifest with each demo user's password replaced by its Argon2 hash."""
        users = manifest.auth.users if manifest.auth else None
        if users is None or all(user.password is None for user in users.demo_users):
            return manifest
        document = manifest.to_document()
        for demo_user in document["auth"]["users"]["demo_users"]:
            password = demo_user.pop("password", None)
            if password is not None:
                demo_user["password_hash"] = await self.hasher.hash(password)
        return parse_manifest(document, source=f"app {manifest.slug!r}")

    async def apply(self, manifest: AppManifest) -> AppAuth | None:
        """Set up the app's auth at registration; ``None`` when it declares none."""
        await self.forget(manifest.slug)
        if manifest.auth is None:
            return None
        slug = manifest.slug
        if needs_tokens(manifest):
            self.token_service(slug)  # a missing or weak secret is a start-up error
        db = self._scoped_db(manifest.slug)
        provider = await create_provider(manifest.auth.policy, db, base_dir=self._base_dir)
        users = manifest.auth.users
        store = (
            UserStore(db[users.collection], self.hasher)
            if users is not None and users.enabled and users.strategy == "app_users"
            else None
        )
        app_auth = AppAuth(
            manifest,
            lambda: self.token_service(slug),
            self.sessions,
            store,
            provider,
            on_event=lambda event: self._record_event(slug, event),
        )
        self._apps[manifest.slug] = app_auth
        await _seed_policies(manifest, provider)
        if store is not None and users is not None:
            await _create_demo_users(manifest, store, provider)
        return app_auth

    def get(self, slug: str) -> AppAuth | None:
        """The auth of a registered app that declares an ``auth`` block."""
        return self._apps.get(slug)

    async def forget(self, slug: str) -> None:
        """Drop an app's auth (unregistered or registered again); its provider is closed."""
        app_auth = self._apps.pop(slug, None)
        if app_auth is not None:
            await _close(app_auth.provider)

    async def close(self) -> None:
        """Close every provider and the session watcher (their background tasks stop)."""
        apps, self._apps = self._apps, {}
        for app_auth in apps.values():
            await _close(app_auth.provider)
        await self.sessions.close()


async def _seed_policies(manifest: AppManifest, provider: AuthorizationProvider | None) -> None:
    seed = getattr(provider, "seed", None)
    policy = manifest.auth.policy if manifest.auth else None
    if seed is not None and policy is not None and policy.authorization is not None:
        await seed(policy.authorization)


async def _create_demo_users(
    manifest: AppManifest, store: UserStore, provider: AuthorizationProvider | None
) -> None:
    users = manifest.auth.users if manifest.auth else None
    if users is None:
        return
    for demo_user in users.demo_users:
        if demo_user.password_hash is None:  # hash_demo_passwords ran before registration
            raise ConfigurationError(f"demo user {demo_user.email!r} was not hashed")
        created = await store.ensure(
            demo_user.email, demo_user.password_hash, name=demo_user.name, roles=demo_user.roles
        )
        if not created:
            continue
        logger.info("app %r: demo user created", manifest.slug)
        add_role = getattr(provider, "add_role_for_user", None)
        if add_role is not None:
            for role in demo_user.roles:
                await add_role(normalize_email(demo_user.email), role)
        assign = getattr(provider, "assign_default_roles", None)
        if assign is not None:
            await assign(normalize_email(demo_user.email))


async def _close(provider: AuthorizationProvider | None) -> None:
    close = getattr(provider, "close", None)
    if close is not None:
        await close()
