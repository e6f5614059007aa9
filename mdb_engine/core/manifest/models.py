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
    rule_error,
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

    required: bool = Field(
        default=True, description="Whether a client must present a valid access token."
    )
    allow_anonymous: bool = Field(
        default=False, description="Admit clients without a token even when 'required' is true."
    )


class WebSocketEndpoint(ManifestModel):
    """A WebSocket route the engine registers for the app."""

    path: EndpointPath = Field(description="URL path such as '/ws' or '/ws/{room}'.")
    auth: WebSocketAuth | None = Field(
        default=None,
        description="Who may connect; without it, the app's auth.policy.required decides.",
    )
    ping_interval: float | None = Field(
        default=20.0, gt=0, description="Seconds between keep-alive pings; null disables them."
    )
    description: str | None = Field(
        default=None, description="A note for readers of the manifest; the engine does not use it."
    )


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

    enabled: bool = Field(
        default=True,
        description="Whether setup_auth_from_manifest adds CORS handling to the FastAPI app.",
    )
    allow_origins: list[str] = Field(
        default=[],
        description="Origins allowed to call the app, such as 'https://app.example.com'; "
        "empty refuses every cross-origin request.",
    )
    allow_methods: list[str] = Field(
        default=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        description="HTTP methods allowed in cross-origin requests.",
    )
    allow_headers: list[str] = Field(
        default=["*"], description="Request headers allowed in cross-origin requests."
    )
    allow_credentials: bool = Field(
        default=False,
        description="Whether cross-origin requests may carry cookies; refused with the origin '*'.",
    )
    max_age: int = Field(
        default=600, ge=0, description="Seconds a browser may cache a preflight answer."
    )


class LoggingConfig(ManifestModel):
    """Log level and format of the app's logger."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="The app's records below this level are dropped."
    )
    format: Literal["text", "json"] = Field(
        default="text", description="One text line per record, or one JSON object per line."
    )

    @field_validator("level", mode="before")
    @classmethod
    def _uppercase_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class MetricsConfig(ManifestModel):
    """The metrics endpoint."""

    enabled: bool = Field(default=True, description="Whether the metrics endpoint is served.")
    path: HttpPath = Field(
        default="/metrics", description="Where the metrics are served, in Prometheus text format."
    )


class HealthConfig(ManifestModel):
    """The liveness and readiness endpoints."""

    enabled: bool = Field(
        default=True, description="Whether the liveness and readiness endpoints are served."
    )
    path: HttpPath = Field(
        default="/health", description="The liveness endpoint: 200 while the process serves."
    )
    ready_path: HttpPath = Field(
        default="/ready",
        description="The readiness endpoint: 503 while MongoDB cannot be reached.",
    )


class ObservabilityConfig(ManifestModel):
    """Logging, metrics and health checks."""

    enabled: bool = Field(
        default=True,
        description="False mounts no endpoints and leaves logging as it is, as if the block "
        "were absent.",
    )
    logging: LoggingConfig = LoggingConfig()
    metrics: MetricsConfig = MetricsConfig()
    health: HealthConfig = HealthConfig()


class EmbeddingConfig(ManifestModel):
    """Text splitting and the embedding provider."""

    enabled: bool = Field(
        default=True,
        description="False makes asking for the app's embedding service a ConfigurationError.",
    )
    provider: Literal["local", "openai", "azure_openai"] = Field(
        default="local",
        description="'local' runs the bundled model offline; 'openai' and 'azure_openai' call "
        "those HTTP APIs (or a compatible server), with keys from the environment.",
    )
    model: str | None = Field(
        default=None,
        description="local: a model folder or a locally cached model (default the bundled "
        "all-MiniLM-L6-v2); openai: the model (default text-embedding-3-small); "
        "azure_openai: the deployment.",
    )
    dimensions: int | None = Field(
        default=None,
        gt=0,
        description="The vector length: sent to OpenAI and Azure, checked against a local "
        "model; null takes the model's own.",
    )
    max_tokens_per_chunk: int = Field(
        default=512,
        gt=0,
        description="The largest chunk, in the model's tokens; capped at what a local model reads.",
    )
    chunk_overlap: int = Field(
        default=50, ge=0, description="How many tokens neighbouring chunks may share."
    )
    api_base: str | None = Field(
        default=None,
        description="openai: the base URL of a compatible server; azure_openai: the endpoint.",
    )
    collection: CollectionName | None = Field(
        default=None,
        description="The app's collection that process_and_store and search use when given "
        "none; null means they must be given one.",
    )

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

    enabled: bool = Field(
        default=True,
        description="False makes asking for the app's memory service a ConfigurationError.",
    )
    provider: Literal["builtin", "mem0"] = Field(
        default="builtin",
        description="'builtin' stores memories in the app's collection, embedded by its "
        "embedding service; 'mem0' uses Mem0 and its own stores.",
    )
    collection: CollectionName = Field(
        default="memories",
        description="builtin: the app's collection that holds the memories; mem0: Mem0's "
        "collection is named '<slug>_<collection>' unless Mem0's config names one.",
    )
    max_memories_per_user: int | None = Field(
        default=None,
        gt=0,
        description="builtin: after an add, a user's oldest memories beyond this many are "
        "deleted; null keeps them all.",
    )


def _offer_a_string(schema: dict[str, Any]) -> None:
    # "$schema" is optional but never null: editors should offer a string and no default.
    schema.pop("anyOf", None)
    schema.pop("default", None)
    schema["type"] = "string"


class AppManifest(ManifestModel):
    """An mdb-engine app manifest (schema 2.0): what the engine sets up for one app."""

    schema_reference: str | None = Field(
        default=None,
        alias="$schema",
        # Editors read it; the engine neither stores it nor counts it in the fingerprint.
        exclude=True,
        json_schema_extra=_offer_a_string,
        description="The path or URL of the manifest JSON Schema, for editors; the engine "
        "ignores it.",
    )
    schema_version: Literal["2.0"] = Field(
        default="2.0",
        description='Always "2.0"; a manifest without it is read as schema 1.0 and migrated, '
        "with a DeprecationWarning.",
    )
    slug: str = Field(
        pattern=SLUG_PATTERN,
        description="The app's id: a lowercase letter, then 1-62 lowercase letters, digits, "
        "'_' or '-'. Prefixes the app's collections and tags its documents.",
    )
    name: NonEmptyStr = Field(
        description="The app's display name, shown by the admin console and as the title of "
        "the app that mdb-engine serve builds."
    )
    description: str | None = Field(
        default=None,
        description="What the app does, shown by the admin console and in the API docs of the "
        "app that mdb-engine serve builds.",
    )
    status: Literal["active", "draft", "inactive", "archived"] = Field(
        default="active",
        description="Only an 'active' app is set up and served; any other is kept in the "
        "registry, and get_scoped_db refuses it.",
    )
    version: str | None = Field(default=None, description="The app's own version.")
    auth: AuthConfig | None = None
    managed_indexes: dict[CollectionName, list[IndexSpec]] = Field(
        default={},
        description="The indexes of each collection, which the engine creates at registration "
        "and keeps as declared.",
    )
    collection_settings: dict[CollectionName, CollectionSettings] = Field(
        default={},
        description="Options of each collection, applied when the engine creates it; an "
        "existing collection is left as it is.",
    )
    initial_data: dict[CollectionName, list[dict[str, Any]]] = Field(
        default={}, description="Documents inserted once, when a collection is first seeded."
    )
    websockets: dict[str, WebSocketEndpoint] = Field(
        default={},
        description="WebSocket endpoints, each under a name the app chooses (the one message "
        "handlers are registered for).",
    )
    data_access: DataAccess | None = None
    cors: CorsConfig | None = None
    observability: ObservabilityConfig | None = None
    embedding_config: EmbeddingConfig | None = None
    memory_config: MemoryConfig | None = None

    @field_validator("schema_reference", mode="before")
    @classmethod
    def _check_schema_reference(cls, value: Any) -> Any:
        if value is None:
            raise rule_error(
                "expected a string, got null",
                "give the path or URL of the manifest's JSON Schema, or leave the key out",
            )
        return value

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
        """The manifest as JSON-compatible data, to store in MongoDB or parse again; without
        ``$schema``, which only editors read."""
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        """A sha256 hex digest that is equal for equal manifests and differs otherwise.

        It is computed from :meth:`to_document`, so ``$schema`` is left out. Demo users'
        passwords (and the hashes that replace them) are left out too: the digest is stored, and
        a password is only used once, to create a user who does not exist yet.
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
