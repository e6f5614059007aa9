"""pytest plugin for apps built on mdb-engine, on a real MongoDB.

Enable it in a ``conftest.py`` with ``pytest_plugins = ["mdb_engine.testing"]`` (needs the
``testing`` extra). Fixtures: ``mongodb_uri`` (session; ``MDB_ENGINE_TEST_URI`` or a local
mongod), ``mongodb_database`` (a fresh database name per test), ``engine``, ``command_log`` and
``mongo_client``.
"""

from __future__ import annotations

from mdb_engine.testing.command_log import CommandLog, CommandRecord
from mdb_engine.testing.fixtures import (
    ENV_TEST_URI,
    command_log,
    engine,
    mongo_client,
    mongodb_database,
    mongodb_uri,
)

__all__ = [
    "ENV_TEST_URI",
    "CommandLog",
    "CommandRecord",
    "command_log",
    "engine",
    "mongo_client",
    "mongodb_database",
    "mongodb_uri",
]
