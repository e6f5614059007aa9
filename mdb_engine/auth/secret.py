"""The secret that signs access tokens: from the environment, never a silent default."""

from __future__ import annotations

import os
from collections.abc import Mapping

from mdb_engine.errors import ConfigurationError

__all__ = ["ENV_SECRET_KEY", "LEGACY_ENV_SECRET_KEY", "MIN_SECRET_BYTES", "resolve_secret_key"]

ENV_SECRET_KEY = "MDB_ENGINE_SECRET_KEY"
LEGACY_ENV_SECRET_KEY = "FLASK_SECRET_KEY"  # the name the MDB_ENGINE seed's quick start uses
MIN_SECRET_BYTES = 32  # an HS256 key shorter than the hash output weakens it (RFC 7518 §3.2)
_HOW_TO_MAKE_ONE = (
    f"export {ENV_SECRET_KEY}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
)


def resolve_secret_key(
    secret_key: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The signing secret: the argument, else ``MDB_ENGINE_SECRET_KEY``, else ``FLASK_SECRET_KEY``.

    A missing or short secret raises :class:`ConfigurationError` saying how to make one.
    """
    env = os.environ if environ is None else environ
    value = secret_key or env.get(ENV_SECRET_KEY) or env.get(LEGACY_ENV_SECRET_KEY)
    if not value:
        raise ConfigurationError(
            f"auth needs a secret key to sign tokens, and none is set: set {ENV_SECRET_KEY} "
            f"(or {LEGACY_ENV_SECRET_KEY}) to a random value of at least {MIN_SECRET_BYTES} "
            f"bytes, for example: {_HOW_TO_MAKE_ONE}"
        )
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"the secret key is {len(value.encode('utf-8'))} bytes long; tokens signed with it "
            f"could be forged: use at least {MIN_SECRET_BYTES} random bytes, for example: "
            f"{_HOW_TO_MAKE_ONE}"
        )
    return value
