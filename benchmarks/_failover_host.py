"""The ASGI factory ``benchmarks/failover.py`` hands to uvicorn (one call per worker).

The same host application ``mdb-engine serve`` builds (``create_host_app`` over the apps
folder), with one setting ``serve`` has no option for: the engine's
``server_selection_timeout_ms`` (how long a request waits for a primary before its 503),
from ``FAILOVER_SERVER_SELECTION_TIMEOUT_MS``. MongoDB, database and apps folder come from
``MDB_ENGINE_MONGO_URI``, ``MDB_ENGINE_DB_NAME`` and ``MDB_ENGINE_APPS_DIR``.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from mdb_engine import MongoDBEngine
from mdb_engine.host import create_host_app
from mdb_engine.host.asgi import ENV_APPS_DIR

ENV_TIMEOUT = "FAILOVER_SERVER_SELECTION_TIMEOUT_MS"


def create_app() -> FastAPI:
    """The host app for ``$MDB_ENGINE_APPS_DIR`` on an engine with the chosen timeout."""
    timeout_ms = int(os.environ.get(ENV_TIMEOUT, "10000"))
    engine = MongoDBEngine(server_selection_timeout_ms=timeout_ms)
    return create_host_app(os.environ[ENV_APPS_DIR], engine=engine)
