"""mdb-engine: many sandboxed apps on one MongoDB, each declared by a manifest."""

from __future__ import annotations

from mdb_engine._version import __version__
from mdb_engine.core import MongoDBEngine, RegisteredApp
from mdb_engine.core.manifest import AppManifest
from mdb_engine.database import ScopedCollection, ScopedCursor, ScopedDatabase
from mdb_engine.errors import (
    AppNotRegistered,
    ConfigurationError,
    DatabaseUnavailable,
    EngineNotInitialized,
    IndexConflict,
    IndexManagementError,
    InputTooDeep,
    ManifestError,
    ManifestProblem,
    MDBEngineError,
    ScopeViolation,
)
from mdb_engine.routing import broadcast_to_app, register_message_handler

__all__ = [
    "AppManifest",
    "AppNotRegistered",
    "ConfigurationError",
    "DatabaseUnavailable",
    "EngineNotInitialized",
    "IndexConflict",
    "IndexManagementError",
    "InputTooDeep",
    "MDBEngineError",
    "ManifestError",
    "ManifestProblem",
    "MongoDBEngine",
    "RegisteredApp",
    "ScopeViolation",
    "ScopedCollection",
    "ScopedCursor",
    "ScopedDatabase",
    "__version__",
    "broadcast_to_app",
    "register_message_handler",
]
