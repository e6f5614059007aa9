"""Auth from the manifest: passwords, tokens, app users, authorization providers.

This package grows with issue 5; what is here is the foundation the HTTP layer builds on.
"""

from __future__ import annotations

from mdb_engine.auth.passwords import PasswordHasher
from mdb_engine.auth.secret import ENV_SECRET_KEY, LEGACY_ENV_SECRET_KEY, resolve_secret_key
from mdb_engine.auth.tokens import TokenService

__all__ = [
    "ENV_SECRET_KEY",
    "LEGACY_ENV_SECRET_KEY",
    "PasswordHasher",
    "TokenService",
    "resolve_secret_key",
]
