"""Engine settings: constructor arguments win over environment variables, which win over
defaults (ARCHITECTURE §6)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from mdb_engine.errors import ConfigurationError

__all__ = [
    "DEFAULT_DB_NAME",
    "DEFAULT_MONGO_URI",
    "DEFAULT_SERVER_SELECTION_TIMEOUT_MS",
    "ENV_DB_NAME",
    "ENV_MONGO_URI",
    "EngineSettings",
    "redact_uri",
    "resolve_settings",
]

ENV_MONGO_URI = "MDB_ENGINE_MONGO_URI"
ENV_DB_NAME = "MDB_ENGINE_DB_NAME"
DEFAULT_MONGO_URI = "mongodb://localhost:27017"
DEFAULT_DB_NAME = "mdb_engine"
DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 10_000

_FORBIDDEN_DB_CHARACTERS = set('/\\. "$*<>:|?\x00')
_CREDENTIALS_RE = re.compile(r"^(mongodb(?:\+srv)?://)([^@/]*)@")


@dataclass(frozen=True)
class EngineSettings:
    """The resolved connection settings of one engine."""

    mongo_uri: str
    db_name: str
    max_pool_size: int
    min_pool_size: int
    server_selection_timeout_ms: int


def resolve_settings(
    mongo_uri: str | None,
    db_name: str | None,
    *,
    max_pool_size: int,
    min_pool_size: int,
    server_selection_timeout_ms: int | None,
    environ: Mapping[str, str] | None = None,
) -> EngineSettings:
    """Resolve and check the settings; a bad value raises ConfigurationError saying how to fix.

    ``server_selection_timeout_ms`` (how long an operation waits for a usable server, e.g.
    during an election, before it fails) comes from the argument, else the URI's own
    ``serverSelectionTimeoutMS`` option, else 10 seconds.
    """
    env = os.environ if environ is None else environ
    uri = mongo_uri or env.get(ENV_MONGO_URI) or DEFAULT_MONGO_URI
    name = db_name or env.get(ENV_DB_NAME) or DEFAULT_DB_NAME
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigurationError(
            f"MongoDB URI {redact_uri(uri)!r} must start with 'mongodb://' or 'mongodb+srv://' "
            f"(pass mongo_uri= or set {ENV_MONGO_URI})"
        )
    bad = sorted(set(name) & _FORBIDDEN_DB_CHARACTERS)
    if not name or len(name.encode()) > 63 or bad:
        raise ConfigurationError(
            f"database name {name!r} is not valid for MongoDB: use 1-63 bytes without "
            f"{' '.join(repr(c) for c in bad) or 'special characters'} "
            f"(pass db_name= or set {ENV_DB_NAME})"
        )
    if max_pool_size < 1 or min_pool_size < 0 or min_pool_size > max_pool_size:
        raise ConfigurationError(
            f"pool sizes must satisfy 0 <= min_pool_size <= max_pool_size and max_pool_size >= 1, "
            f"got min_pool_size={min_pool_size}, max_pool_size={max_pool_size}"
        )
    if server_selection_timeout_ms is None:
        server_selection_timeout_ms = _uri_timeout(uri)
    if server_selection_timeout_ms <= 0:
        raise ConfigurationError(
            f"server_selection_timeout_ms must be positive, got {server_selection_timeout_ms}"
        )
    return EngineSettings(uri, name, max_pool_size, min_pool_size, server_selection_timeout_ms)


def _uri_timeout(uri: str) -> int:
    """The URI's ``serverSelectionTimeoutMS`` option (names are case-insensitive), or the
    default."""
    for name, value in parse_qsl(urlsplit(uri).query):
        if name.lower() == "serverselectiontimeoutms":
            try:
                return int(value)
            except ValueError:
                raise ConfigurationError(
                    f"serverSelectionTimeoutMS={value!r} in the MongoDB URI is not a number of "
                    f"milliseconds"
                ) from None
    return DEFAULT_SERVER_SELECTION_TIMEOUT_MS


def redact_uri(uri: str) -> str:
    """``uri`` with its password replaced by ``***`` (safe to log and to show in errors)."""
    match = _CREDENTIALS_RE.match(uri)
    if not match:
        return uri
    user = match.group(2).split(":", 1)[0]
    return f"{match.group(1)}{user}:***@{uri[match.end() :]}"
