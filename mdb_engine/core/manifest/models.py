"""The app manifest, schema 2.0: the root model and its smaller sections.

The auth section lives in :mod:`models_auth`, indexes and collection options in
:mod:`models_indexes`; the shared building blocks in :mod:`fields`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mdb_engine.core.manifest.fields import (
    SLUG_PATTERN,
    CollectionName,
    EndpointPath,
    HttpPath,
    ManifestModel,
    NonEmptyStr,
    Slug,
    Violation,
    rule_violations,
)
from mdb_engine.core.manifest.index_rules import declaration_conflicts
from mdb_engine.core.manifest.models_auth import AuthConfig
from mdb_engine.core.manifest.models_indexes import CollectionSettings, IndexSpec

__all__ = [
    "AppManifest",
    "CorsConfig",
    "DataAccess",
    "EmbeddingConfig",
    "HealthConfig",
    "LoggingConfig",
    "MemoryConfig",
    "MetricsConfig",
    "ObservabilityConfig",
    "WebSocketAuth",
    "WebSocketEndpoint",
    "manifest_json_schema",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
JSON_SCHEMA_ID = "urn:mdb-engine:manifest:2.0"


class WebSocketAuth(ManifestModel):
    """Who may open the WebSocket endpoint."""

    required: bool = True
    allow_anonymous: bool = False


class WebSocketEndpoint(ManifestModel):
    """A WebSocket route the engine registers for the app."""

    path: EndpointPath = Field(description="URL path such as '/ws' or '/ws/{room}'.")
    auth: WebSocketAuth | None = None
    ping_interval: float | None = Field(
        default=20.0, gt=0, description="Seconds between keep-alive pings; null disables them."
    )
    description: str | None = None


class DataAccess(ManifestModel):
    """Read access across apps: what this app asks for and what it allows."""

    read_scopes: list[Slug] = Field(
        default=[], description="Slugs of other apps whose collections this app wants to read."
    )
    allow_read_by: list[Slug] = Field(
        default=[], description="Slugs of apps allowed to read this app's collections."
    )
    shared_collections: list[CollectionName] | None = Field(
        default=None, description="Collections the consent covers; null means all of them."
    )


class CorsConfig(ManifestModel):
    """Cross-origin resource sharing for the app's HTTP routes."""

    enabled: bool = True
    allow_origins: list[str] = Field(default=[])
    allow_methods: list[str] = Field(default=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    allow_headers: list[str] = Field(default=["*"])
    allow_credentials: bool = False
    max_age: int = Field(default=600, ge=0)


class LoggingConfig(ManifestModel):
    """Log level and format of the app's logger."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _uppercase_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class MetricsConfig(ManifestModel):
    """The metrics endpoint."""

    enabled: bool = True
    path: HttpPath = "/metrics"


class HealthConfig(ManifestModel):
    """The liveness and readiness endpoints."""

    enabled: bool = True
    path: HttpPath = "/health"
    ready_path: HttpPath = "/ready"


class ObservabilityConfig(ManifestModel):
    """Logging, metrics and health checks."""

    enabled: bool = True
    logging: LoggingConfig = LoggingConfig()
    metrics: MetricsConfig = MetricsConfig()
    health: HealthConfig = HealthConfig()


class EmbeddingConfig(ManifestModel):
    """Text splitting and the embedding provider."""

    enabled: bool = True
    provider: Literal["local", "openai", "azure_openai"] = "local"
    model: str | None = None
    dimensions: int | None = Field(default=None, gt=0)
    max_tokens_per_chunk: int = Field(default=512, gt=0)
    chunk_overlap: int = Field(default=50, ge=0)
    api_base: str | None = None
    collection: CollectionName | None = None

    @model_validator(mode="after")
    def _check_overlap(self) -> EmbeddingConfig:
        if self.chunk_overlap >= self.max_tokens_per_chunk:
            raise rule_violations(
                type(self).__name__,
                [
                    (
                        ("chunk_overlap",),
                        f"'chunk_overlap' ({self.chunk_overlap}) must be smaller than "
                        f"'max_tokens_per_chunk' ({self.max_tokens_per_chunk})",
                        "e.g. about a tenth of 'max_tokens_per_chunk'",
                        self.chunk_overlap,
                    )
                ],
            )
        return self


class MemoryConfig(ManifestModel):
    """The per-user memory service."""

    enabled: bool = True
    provider: Literal["builtin", "mem0"] = "builtin"
    collection: CollectionName = "memories"
    max_memories_per_user: int | None = Field(default=None, gt=0)


class AppManifest(ManifestModel):
    """An mdb-engine app manifest (schema 2.0): what the engine sets up for one app."""

    schema_version: Literal["2.0"] = "2.0"
    slug: str = Field(
        pattern=SLUG_PATTERN,
        description="The app's id: a lowercase letter, then 1-62 lowercase letters, digits, "
        "'_' or '-'. Prefixes the app's collections and tags its documents.",
    )
    name: NonEmptyStr
    description: str | None = None
    status: Literal["active", "draft", "inactive", "archived"] = "active"
    version: str | None = Field(default=None, description="The app's own version.")
    auth: AuthConfig | None = None
    managed_indexes: dict[CollectionName, list[IndexSpec]] = Field(default={})
    collection_settings: dict[CollectionName, CollectionSettings] = Field(default={})
    initial_data: dict[CollectionName, list[dict[str, Any]]] = Field(
        default={}, description="Documents inserted once, when a collection is first seeded."
    )
    websockets: dict[str, WebSocketEndpoint] = Field(default={})
    data_access: DataAccess | None = None
    cors: CorsConfig | None = None
    observability: ObservabilityConfig | None = None
    embedding_config: EmbeddingConfig | None = None
    memory_config: MemoryConfig | None = None

    @field_validator("managed_indexes")
    @classmethod
    def _check_index_conflicts(
        cls, managed_indexes: dict[str, list[IndexSpec]]
    ) -> dict[str, list[IndexSpec]]:
        violations: list[Violation] = [
            ((collection, *location), message, hint, value)
            for collection, specs in managed_indexes.items()
            for location, message, hint, value in declaration_conflicts(collection, specs)
        ]
        if violations:
            raise rule_violations("managed_indexes", violations)
        return managed_indexes

    @field_validator("websockets")
    @classmethod
    def _check_unique_paths(
        cls, endpoints: dict[str, WebSocketEndpoint]
    ) -> dict[str, WebSocketEndpoint]:
        first_by_path: dict[str, str] = {}
        violations: list[Violation] = []
        for endpoint_name, endpoint in endpoints.items():
            first = first_by_path.setdefault(endpoint.path, endpoint_name)
            if first != endpoint_name:
                violations.append(
                    (
                        (endpoint_name, "path"),
                        f"path {endpoint.path!r} is already used by endpoint {first!r}",
                        "give each endpoint its own path",
                        endpoint.path,
                    )
                )
        if violations:
            raise rule_violations("websockets", violations)
        return endpoints

    @field_validator("data_access")
    @classmethod
    def _check_not_own_scope(
        cls, data_access: DataAccess | None, info: ValidationInfo
    ) -> DataAccess | None:
        slug = info.data.get("slug")
        if data_access is None or slug is None:
            return data_access
        violations: list[Violation] = [
            (
                ("read_scopes", position),
                "an app does not need a read scope for itself",
                f"remove {slug!r}",
                scope,
            )
            for position, scope in enumerate(data_access.read_scopes)
            if scope == slug
        ]
        if violations:
            raise rule_violations("data_access", violations)
        return data_access

    def to_document(self) -> dict[str, Any]:
        """The manifest as JSON-compatible data, to store in MongoDB or parse again."""
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        """A sha256 hex digest that is equal for equal manifests and differs otherwise.

        Demo users' passwords (and the hashes that replace them) are left out: the digest is
        stored, and a password is only used once, to create a user who does not exist yet.
        """
        document = self.to_document()
        users = (document.get("auth") or {}).get("users") or {}
        for demo_user in users.get("demo_users", []):
            demo_user.pop("password", None)
            demo_user.pop("password_hash", None)
        # Canonical JSON sorts keys, but the order of an index's keys is meaningful.
        for indexes in document["managed_indexes"].values():
            for index in indexes:
                if index["keys"] is not None:
                    index["keys"] = [[field, value] for field, value in index["keys"].items()]
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the 2.0 manifest, for editors and other tools."""
    schema = AppManifest.model_json_schema()
    schema["title"] = "mdb-engine app manifest (schema 2.0)"
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": JSON_SCHEMA_ID, **schema}
