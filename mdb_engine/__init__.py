"""mdb-engine: many sandboxed apps on one MongoDB, each declared by a manifest."""

from __future__ import annotations

from mdb_engine._version import __version__
from mdb_engine.errors import (
    AppNotRegistered,
    ConfigurationError,
    DatabaseUnavailable,
    MDBEngineError,
    ManifestError,
    ScopeViolation,
)

__all__ = [
    "AppNotRegistered",
    "ConfigurationError",
    "DatabaseUnavailable",
    "MDBEngineError",
    "ManifestError",
    "ScopeViolation",
    "__version__",
]
