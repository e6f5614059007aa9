"""The ASGI factory ``mdb-engine serve`` hands to uvicorn (one call per worker process)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from mdb_engine.errors import ConfigurationError
from mdb_engine.host.hosting import create_host_app

__all__ = ["ENV_APPS_DIR", "create_app_from_environment"]

ENV_APPS_DIR = "MDB_ENGINE_APPS_DIR"


def create_app_from_environment() -> FastAPI:
    """The host application for ``$MDB_ENGINE_APPS_DIR``; MongoDB, database and secret come
    from the engine's own environment variables."""
    apps_dir = os.environ.get(ENV_APPS_DIR)
    if not apps_dir:
        raise ConfigurationError(
            f"set {ENV_APPS_DIR} to the folder of apps to serve (or run `mdb-engine serve DIR`)"
        )
    return create_host_app(apps_dir)
