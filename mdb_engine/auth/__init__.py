"""Auth from the manifest: app users, JWT sessions, Casbin/OSO authorization, FastAPI
dependencies and opt-in security helpers.

The seed's calls work as written::

    from mdb_engine.auth import setup_auth_from_manifest, get_authz_provider, get_current_user
    await setup_auth_from_manifest(app, engine, "my_app")
"""

from __future__ import annotations

from mdb_engine.auth.app_state import attach_engine, engine_from_request
from mdb_engine.auth.compat import get_app_sub_user
from mdb_engine.auth.cors import apply_cors
from mdb_engine.auth.decorators import token_security
from mdb_engine.auth.dependencies import (
    get_authz_provider,
    get_current_user,
    get_optional_user,
)
from mdb_engine.auth.middleware import SecurityMiddleware
from mdb_engine.auth.passwords import PasswordHasher
from mdb_engine.auth.providers import AuthorizationProvider, CasbinProvider, OsoProvider
from mdb_engine.auth.rate_limit import RateLimiter, rate_limit_auth
from mdb_engine.auth.require import require_auth
from mdb_engine.auth.secret import ENV_SECRET_KEY, LEGACY_ENV_SECRET_KEY, resolve_secret_key
from mdb_engine.auth.service import AppAuth, RegistrationClosed, TokenPair
from mdb_engine.auth.sessions import SessionStore
from mdb_engine.auth.setup import setup_auth_from_manifest
from mdb_engine.auth.tokens import TokenService
from mdb_engine.auth.users import UserAlreadyExists, UserStore, WeakPassword

__all__ = [
    "ENV_SECRET_KEY",
    "LEGACY_ENV_SECRET_KEY",
    "AppAuth",
    "AuthorizationProvider",
    "CasbinProvider",
    "OsoProvider",
    "PasswordHasher",
    "RateLimiter",
    "RegistrationClosed",
    "SecurityMiddleware",
    "SessionStore",
    "TokenPair",
    "TokenService",
    "UserAlreadyExists",
    "UserStore",
    "WeakPassword",
    "apply_cors",
    "attach_engine",
    "engine_from_request",
    "get_app_sub_user",
    "get_authz_provider",
    "get_current_user",
    "get_optional_user",
    "rate_limit_auth",
    "require_auth",
    "resolve_secret_key",
    "setup_auth_from_manifest",
    "token_security",
]
