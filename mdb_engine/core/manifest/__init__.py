"""The app manifest: Pydantic models (schema 2.0), the 1.0 -> 2.0 migration, validation with
path-precise errors, and the JSON Schema.

Problems are reported at JSON paths: ``$`` is the manifest, identifier keys are dotted
(``$.auth.policy.provider``), other keys are quoted in brackets
(``$.collection_settings["my-coll"]``), list positions are ``[n]``
(``$.managed_indexes.tasks[0].keys``).
"""

from __future__ import annotations

from mdb_engine.core.manifest.fields import SLUG_PATTERN
from mdb_engine.core.manifest.migration import migrate_manifest
from mdb_engine.core.manifest.models import (
    AppManifest,
    CorsConfig,
    DataAccess,
    EmbeddingConfig,
    HealthConfig,
    LoggingConfig,
    MemoryConfig,
    MetricsConfig,
    ObservabilityConfig,
    WebSocketAuth,
    WebSocketEndpoint,
    manifest_json_schema,
)
from mdb_engine.core.manifest.models_auth import (
    AuthConfig,
    AuthorizationConfig,
    AuthPolicy,
    DemoUser,
    RoleAssignment,
    UsersConfig,
)
from mdb_engine.core.manifest.models_indexes import CollectionSettings, IndexSpec, TimeseriesOptions
from mdb_engine.core.manifest.validation import check_manifest, load_manifest_file, parse_manifest

__all__ = [
    "SLUG_PATTERN",
    "AppManifest",
    "AuthConfig",
    "AuthPolicy",
    "AuthorizationConfig",
    "CollectionSettings",
    "CorsConfig",
    "DataAccess",
    "DemoUser",
    "EmbeddingConfig",
    "HealthConfig",
    "IndexSpec",
    "LoggingConfig",
    "MemoryConfig",
    "MetricsConfig",
    "ObservabilityConfig",
    "RoleAssignment",
    "TimeseriesOptions",
    "UsersConfig",
    "WebSocketAuth",
    "WebSocketEndpoint",
    "check_manifest",
    "load_manifest_file",
    "manifest_json_schema",
    "migrate_manifest",
    "parse_manifest",
]
