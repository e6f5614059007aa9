"""MongoDBEngine: the connection, the app registry and each app's scoped database."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.client_session_shared import TransactionOptions
from pymongo.errors import PyMongoError
from starlette.middleware import Middleware

from mdb_engine._asgi import install_middleware
from mdb_engine.auth.app_state import attach_engine
from mdb_engine.auth.indexes import auth_indexes
from mdb_engine.auth.registry import EngineAuth
from mdb_engine.auth.service import AppAuth
from mdb_engine.auth.tokens import TokenService
from mdb_engine.core.collections import create_declared_collections
from mdb_engine.core.config import EngineSettings, redact_uri, resolve_settings
from mdb_engine.core.manifest import AppManifest, check_manifest, load_manifest_file, parse_manifest
from mdb_engine.core.manifest.models_indexes import IndexSpec
from mdb_engine.core.read_access import check_read_access
from mdb_engine.core.registry_store import RegistryStore
from mdb_engine.core.seeding import seed_initial_data
from mdb_engine.core.system_collections import SystemCollections
from mdb_engine.database import ScopedDatabase
from mdb_engine.database.names import find_slug_collision
from mdb_engine.embeddings.registry import EngineEmbeddings
from mdb_engine.embeddings.service import EmbeddingService
from mdb_engine.errors import (
    AppNotRegistered,
    ConfigurationError,
    DatabaseUnavailable,
    EngineNotInitialized,
    IndexConflict,
    ManifestError,
    ManifestProblem,
)
from mdb_engine.indexes import IndexPlan, IndexSyncResult, OnConflict, plan_indexes, sync_indexes
from mdb_engine.memory.base import MemoryStore
from mdb_engine.memory.registry import EngineMemory
from mdb_engine.observability.bad_input import install_bad_input_handlers
from mdb_engine.observability.endpoints import mount_observability
from mdb_engine.observability.error_log import ErrorLog, is_error_log_handler
from mdb_engine.observability.health import check_readiness
from mdb_engine.observability.logging import (
    AppLogSettings,
    install_log_handler,
    remove_log_handler,
    required_logger_level,
)
from mdb_engine.observability.metrics import EngineMetrics
from mdb_engine.observability.middleware import RequestContextMiddleware
from mdb_engine.observability.unavailable import install_unavailable_handler
from mdb_engine.routing.api import track_engine, untrack_engine
from mdb_engine.routing.realtime import MessageHandler, Realtime

__all__ = ["EventListener", "ManifestInput", "MongoDBEngine", "RegisteredApp"]

logger = logging.getLogger(__name__)

ManifestInput = AppManifest | Mapping[str, Any] | str | os.PathLike[str]
EventListener = (
    monitoring.CommandListener
    | monitoring.ServerListener
    | monitoring.ServerHeartbeatListener
    | monitoring.TopologyListener
    | monitoring.ConnectionPoolListener
)


@dataclass(frozen=True)
class RegisteredApp:
    """An app known to this engine: its manifest and the manifest's fingerprint."""

    slug: str
    manifest: AppManifest
    fingerprint: str

    @property
    def is_active(self) -> bool:
        """Whether the app serves data (``status == "active"``)."""
        return self.manifest.status == "active"


class MongoDBEngine:
    """One engine: a MongoDB connection shared by many sandboxed apps."""

    def __init__(
        self,
        mongo_uri: str | None = None,
        db_name: str | None = None,
        *,
        max_pool_size: int = 100,
        min_pool_size: int = 0,
        server_selection_timeout_ms: int | None = None,
        event_listeners: Sequence[EventListener] | None = None,
        secret_key: str | None = None,
        token_service: TokenService | None = None,
    ) -> None:
        """``secret_key`` signs access tokens (default: ``MDB_ENGINE_SECRET_KEY`` or
        ``FLASK_SECRET_KEY``); ``token_service`` replaces it, e.g. for RS256/ES256 keys.
        ``server_selection_timeout_ms`` bounds how long an operation waits for a usable server
        (default: the URI's ``serverSelectionTimeoutMS``, else 10 s)."""
        self._settings: EngineSettings = resolve_settings(
            mongo_uri,
            db_name,
            max_pool_size=max_pool_size,
            min_pool_size=min_pool_size,
            server_selection_timeout_ms=server_selection_timeout_ms,
        )
        self._event_listeners = list(event_listeners or [])
        self._client: AsyncMongoClient[Mapping[str, Any]] | None = None
        self._apps: dict[str, RegisteredApp] = {}
        self._scoped: dict[str, ScopedDatabase] = {}
        self._system: SystemCollections | None = None
        self._metrics = EngineMetrics()
        self._log_settings = AppLogSettings()
        self._log_handler: logging.Handler | None = None
        self._error_log = ErrorLog(self.system_collection, lambda slug: slug in self._apps)
        self._auth = EngineAuth(
            self.system_collection,
            self.get_scoped_db,
            secret_key=secret_key,
            token_service=token_service,
            record_event=self._metrics.auth_event,
        )
        self._realtime = Realtime(self)
        self._embeddings = EngineEmbeddings(self.get_scoped_db)
        self._memory = EngineMemory()
        # FastAPI apps whose routes follow the registry, each with the one app slug it
        # serves (None: every app).
        self._attached: list[tuple[Any, str | None]] = []
        self._lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def mongo_uri(self) -> str:
        """The MongoDB URI with its password redacted."""
        return redact_uri(self._settings.mongo_uri)

    @property
    def db_name(self) -> str:
        """The name of the database all apps share."""
        return self._settings.db_name

    @property
    def is_initialized(self) -> bool:
        """Whether ``initialize()`` succeeded and ``shutdown()`` has not been called since."""
        return self._client is not None

    async def initialize(self) -> None:
        """Connect and ping MongoDB; a second call does nothing."""
        if self._client is not None:
            return
        settings = self._settings
        client: AsyncMongoClient[Mapping[str, Any]] = AsyncMongoClient(
            settings.mongo_uri,
            maxPoolSize=settings.max_pool_size,
            minPoolSize=settings.min_pool_size,
            serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
            event_listeners=self._event_listeners,
            appname="mdb-engine",
        )
        try:
            await client.admin.command("ping")
        except PyMongoError as exc:
            await client.close()
            raise DatabaseUnavailable(
                f"could not reach MongoDB at {redact_uri(settings.mongo_uri)} "
                f"within {settings.server_selection_timeout_ms} ms ({type(exc).__name__}). "
                "Is the server running? Start a local one with `mdb-engine mongod`, or set "
                "MDB_ENGINE_MONGO_URI to a reachable server."
            ) from None
        self._client = client
        self._error_log.start()
        track_engine(self)
        logger.info("connected to MongoDB at %s, database %r", self.mongo_uri, settings.db_name)

    async def shutdown(self) -> None:
        """Close the connection; apps stay registered in MongoDB. A second call does nothing."""
        untrack_engine(self)
        if self._log_handler is not None:
            remove_log_handler(self._log_handler)
            self._log_handler = None
        await self._realtime.close()
        await self._memory.close()
        await self._embeddings.close()
        await self._auth.close()
        await self._error_log.close()  # stores what is queued while the client is open
        client, self._client = self._client, None
        self._apps.clear()
        self._scoped.clear()
        self._system = None
        if client is not None:
            await client.close()

    async def __aenter__(self) -> MongoDBEngine:
        await self.initialize()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()

    def _connected_client(self) -> AsyncMongoClient[Mapping[str, Any]]:
        if self._client is None:
            raise EngineNotInitialized(
                "the engine is not connected: call `await engine.initialize()` first"
            )
        return self._client

    def _database(self) -> AsyncDatabase[Mapping[str, Any]]:
        return self._connected_client()[self._settings.db_name]

    # -- manifests ---------------------------------------------------------------------------

    async def load_manifest(self, path: str | os.PathLike[str]) -> AppManifest:
        """Read and validate a manifest file (1.0 manifests are migrated to 2.0)."""
        return await asyncio.to_thread(load_manifest_file, path)

    async def validate_manifest(self, manifest: Any) -> tuple[bool, list[str]]:
        """``(True, [])`` for a valid manifest dict, else ``(False, [problem, ...])``."""
        return check_manifest(manifest)

    async def _coerce_manifest(self, manifest: ManifestInput) -> AppManifest:
        if isinstance(manifest, AppManifest):
            return manifest
        if isinstance(manifest, (str, os.PathLike)):
            return await self.load_manifest(manifest)
        if isinstance(manifest, Mapping):
            return parse_manifest(manifest)
        raise ManifestError(
            [
                ManifestProblem(
                    "$",
                    f"expected a manifest dict, a loaded manifest or a path, "
                    f"got {type(manifest).__name__}",
                )
            ]
        )

    # -- registry ----------------------------------------------------------------------------

    async def register_app(
        self, manifest: ManifestInput, create_indexes: bool = True
    ) -> AppManifest:
        """Register (or update) an app from its manifest and apply what it declares.

        Registering an unchanged manifest again is a no-op that sends nothing to MongoDB.
        """
        parsed = await self._coerce_manifest(manifest)
        current = self._apps.get(parsed.slug)
        if current is not None and current.fingerprint == parsed.fingerprint():
            return current.manifest
        parsed = await self._auth.hash_demo_passwords(parsed)
        persisted = await RegistryStore(self._database()).fingerprints()
        await self._register(parsed, persisted, create_indexes=create_indexes)
        return parsed

    async def _register(
        self, parsed: AppManifest, persisted: Mapping[str, str], *, create_indexes: bool
    ) -> None:
        """Register ``parsed``, given the persisted registry's slug -> fingerprint map."""
        async with self._lock:
            fingerprint = parsed.fingerprint()
            current = self._apps.get(parsed.slug)
            if current is not None and current.fingerprint == fingerprint:
                return
            other = find_slug_collision(parsed.slug, set(persisted) | set(self._apps))
            if other is not None:
                raise ManifestError([_collision_problem(parsed.slug, other)])
            if persisted.get(parsed.slug) != fingerprint:
                await RegistryStore(self._database()).save(
                    parsed.slug, parsed.to_document(), fingerprint
                )
                logger.info("app %r: manifest saved to the registry", parsed.slug)
            self._apps[parsed.slug] = RegisteredApp(parsed.slug, parsed, fingerprint)
            self._scoped.pop(parsed.slug, None)
        if parsed.status == "active":
            await self._apply_manifest(parsed, create_indexes=create_indexes)

    async def _apply_manifest(self, manifest: AppManifest, *, create_indexes: bool) -> None:
        database = self._database()
        if manifest.collection_settings:
            # Before the indexes: creating an index would create the collection without them.
            await create_declared_collections(
                self.get_scoped_db(manifest.slug), manifest.collection_settings
            )
        if create_indexes and _declared_indexes(manifest):
            await self.sync_indexes(manifest)
        if manifest.initial_data:
            scoped = self.get_scoped_db(manifest.slug)
            await seed_initial_data(database, scoped, manifest.initial_data)
        await self._auth.apply(manifest)
        self._apply_logging(manifest)
        for app, served in self._attached:
            if served in (None, manifest.slug):
                self._serve_manifest(app, manifest)

    def get_app(self, slug: str) -> RegisteredApp | None:
        """The registered app ``slug``, or ``None``."""
        return self._apps.get(slug)

    def get_manifest(self, slug: str) -> AppManifest | None:
        """The manifest of the registered app ``slug``, or ``None``."""
        app = self._apps.get(slug)
        return app.manifest if app else None

    def list_apps(self) -> list[str]:
        """The slugs of the apps registered on this engine, sorted."""
        return sorted(self._apps)

    async def unregister_app(self, slug: str) -> None:
        """Forget an app (here and in the persisted registry); its data is kept."""
        database = self._database()
        async with self._lock:
            was_persisted = await RegistryStore(database).delete(slug)
            was_known = self._apps.pop(slug, None) is not None
            self._scoped.pop(slug, None)
            await self._auth.forget(slug)
            await self._memory.forget(slug)
            await self._embeddings.forget(slug)
            self._log_settings.remove(slug)
            for app, _ in self._attached:
                self._realtime.remove_routes(app, slug)
        if not (was_persisted or was_known):
            raise AppNotRegistered(slug)
        logger.info("app %r: unregistered (its data is kept)", slug)

    async def reload_apps(self, create_indexes: bool = False) -> list[str]:
        """Register the active apps persisted in MongoDB (what other workers registered).

        Apps no longer persisted as active are forgotten. A persisted manifest that no longer
        validates is logged and skipped, so one broken app does not stop the others.
        """
        documents = await RegistryStore(self._database()).documents()
        persisted = {document["_id"]: document.get("fingerprint", "") for document in documents}
        loaded: list[str] = []
        for document in documents:
            if document.get("status") != "active":
                continue
            try:
                manifest = parse_manifest(
                    document["manifest"], source=f"registry:{document['_id']}"
                )
            except ManifestError as exc:
                logger.error(
                    "app %r: persisted manifest is invalid, skipped\n%s", document["_id"], exc
                )
                continue
            await self._register(manifest, persisted, create_indexes=create_indexes)
            loaded.append(manifest.slug)
        for slug in set(self._apps) - set(loaded):
            self._apps.pop(slug)
            self._scoped.pop(slug, None)
            await self._auth.forget(slug)
            await self._memory.forget(slug)
            await self._embeddings.forget(slug)
        return loaded

    # -- indexes -----------------------------------------------------------------------------

    async def plan_indexes(self, app: str | AppManifest) -> IndexPlan:
        """Compare an app's declared indexes with the server's, sending only reads.

        ``app`` is a registered app's slug or a manifest (which need not be registered).
        """
        manifest = self._index_manifest(app)
        return await plan_indexes(
            self._database(),
            manifest.slug,
            _declared_indexes(manifest),
            manifest.collection_settings,
        )

    async def sync_indexes(
        self,
        app: str | AppManifest,
        prune: bool = False,
        on_conflict: OnConflict = "error",
    ) -> IndexSyncResult:
        """Create missing indexes and change TTL/hidden in place; see :func:`sync_indexes`.

        A conflicting index raises :class:`~mdb_engine.errors.IndexConflict` and nothing is
        changed, unless ``on_conflict="recreate"``; undeclared indexes are dropped only with
        ``prune=True``.
        """
        manifest = self._index_manifest(app)
        try:
            result = await sync_indexes(
                self._database(),
                manifest.slug,
                _declared_indexes(manifest),
                manifest.collection_settings,
                prune=prune,
                on_conflict=on_conflict,
            )
        except IndexConflict:
            self._metrics.index_sync(manifest.slug, "conflict")
            raise
        except Exception:
            self._metrics.index_sync(manifest.slug, "error")
            raise
        self._metrics.index_sync(manifest.slug, "ok")
        return result

    def _index_manifest(self, app: str | AppManifest) -> AppManifest:
        if isinstance(app, AppManifest):
            return app
        registered = self._apps.get(app)
        if registered is None:
            raise AppNotRegistered(app)
        return registered.manifest

    # -- auth --------------------------------------------------------------------------------

    def get_app_auth(self, slug: str) -> AppAuth | None:
        """The auth of a registered active app (its users, sessions, tokens and provider), or
        ``None`` when its manifest declares no ``auth`` block."""
        return self._auth.get(slug)

    # -- FastAPI and realtime ------------------------------------------------------------------

    def attach(self, app: Any, slug: str | None = None) -> None:
        """Serve this engine's apps from the FastAPI ``app``: the helpers find the engine on
        ``app.state``, and every registered app's manifest WebSocket endpoints become routes
        of ``app`` (now and whenever an app is registered). With ``slug``, ``app`` serves
        that one app only (a sub-application mounted per app); the first call decides."""
        served = self._remember_app(app, slug)
        for registered in self._apps.values():
            if registered.is_active and served in (None, registered.slug):
                self._serve_manifest(app, registered.manifest)

    def _apply_logging(self, manifest: AppManifest) -> None:
        observability = manifest.observability
        if observability is None or not observability.enabled:
            self._log_settings.remove(manifest.slug)
            return
        declared = observability.logging
        self._log_settings.set(manifest.slug, declared.level, declared.format)
        if self._log_handler is None:
            self._log_handler = install_log_handler(self._log_settings)
        level = required_logger_level(self._log_settings)
        root = logging.getLogger()
        # Error logs store records and print nothing: they do not count as configured logging.
        printing = [handler for handler in root.handlers if not is_error_log_handler(handler)]
        if level is not None and printing == [self._log_handler]:
            root.setLevel(level)  # logging is not configured otherwise: follow the manifest
        elif level is not None:
            logger.warning(
                "app %r declares log level %s, but the root logger is at %s: lower it with "
                "logging.getLogger().setLevel(%d) to see its records",
                manifest.slug,
                declared.level,
                logging.getLevelName(root.level),
                level,
            )

    def _serve_manifest(self, app: Any, manifest: AppManifest) -> None:
        self._realtime.register_routes(app, manifest)
        observability = manifest.observability
        if observability is not None and observability.enabled:
            metrics, health = observability.metrics, observability.health
            mount_observability(
                app,
                self,
                metrics_path=metrics.path if metrics.enabled else None,
                health_path=health.path if health.enabled else None,
                ready_path=health.ready_path if health.enabled else None,
            )

    def register_websocket_routes(self, app: Any, slug: str) -> list[str]:
        """Add app ``slug``'s manifest WebSocket endpoints to the FastAPI ``app`` (the
        MDB_RUNTIME call); the paths added. Two apps declaring one path is a ManifestError."""
        registered = self._apps.get(slug)
        if registered is None:
            raise AppNotRegistered(slug)
        self._remember_app(app)
        return self._realtime.register_routes(app, registered.manifest)

    def _remember_app(self, app: Any, slug: str | None = None) -> str | None:
        """Remember ``app`` (once); the slug it serves, None for every app."""
        attach_engine(app, self)
        for known, served in self._attached:
            if known is app:
                return served
        self._attached.append((app, slug))
        install_middleware(app, Middleware(RequestContextMiddleware, app_id=slug))
        install_unavailable_handler(app)
        install_bad_input_handlers(app)
        return slug

    async def broadcast_to_app(self, slug: str, message: Any, user_id: str | None = None) -> int:
        """Send ``message`` to every WebSocket client of app ``slug`` (or of one user) in
        every worker process; how many clients of this process it was queued for."""
        if slug not in self._apps:
            raise AppNotRegistered(slug)
        return await self._realtime.broadcast(slug, message, user_id)

    def register_message_handler(self, slug: str, endpoint: str, handler: MessageHandler) -> None:
        """Handle what clients send to app ``slug``'s WebSocket endpoint ``endpoint``."""
        registered = self._apps.get(slug)
        if registered is None:
            raise AppNotRegistered(slug)
        if endpoint not in registered.manifest.websockets:
            declared = sorted(registered.manifest.websockets) or "none"
            raise ConfigurationError(
                f"app {slug!r} declares no WebSocket endpoint {endpoint!r} "
                f"(declared: {declared}); handlers are registered by the key under 'websockets'"
            )
        self._realtime.register_message_handler(slug, endpoint, handler)

    # -- observability -----------------------------------------------------------------------

    @property
    def metrics(self) -> EngineMetrics:
        """This engine's metrics (its own Prometheus registry)."""
        return self._metrics

    @property
    def error_log(self) -> ErrorLog:
        """Recent ERROR records of this engine's apps, shared by every engine process."""
        return self._error_log

    def get_metrics(self) -> dict[str, Any]:
        """The metrics as plain data: ``{metric name: [{"labels": {...}, "value": v}]}``."""
        return self._metrics.snapshot()

    async def get_health_status(self) -> dict[str, Any]:
        """Readiness: MongoDB reachable (one ``hello`` within 2 s), the replica-set state and
        the registered apps; ``status`` is ``"ready"`` or ``"unavailable"``."""
        return await check_readiness(self._client, self.list_apps())

    @property
    def realtime(self) -> Realtime:
        """The engine's WebSocket connections and broadcast bus."""
        return self._realtime

    # -- data --------------------------------------------------------------------------------

    async def get_embedding_service(self, slug: str) -> EmbeddingService:
        """App ``slug``'s embedding service (splitting, embedding, storing, vector search) as
        its manifest's ``embedding_config`` sets it up; built on first use, rebuilt when the
        settings change. A ConfigurationError when the manifest disables embeddings."""
        self.get_scoped_db(slug)  # refuses an unknown or inactive app
        return await self._embeddings.get(slug, self._apps[slug].manifest)

    async def get_memory_service(self, slug: str) -> MemoryStore:
        """App ``slug``'s per-user memories as its manifest's ``memory_config`` sets them up
        (the builtin store on its embedding service, or Mem0); built on first use."""
        embeddings = await self.get_embedding_service(slug)
        return await self._memory.get(slug, self._apps[slug].manifest, embeddings)

    def get_scoped_db(self, slug: str) -> ScopedDatabase:
        """The sandboxed database of an active registered app."""
        app = self._apps.get(slug)
        if app is None:
            raise AppNotRegistered(slug)
        if not app.is_active:
            raise AppNotRegistered(slug, f"is not active (status {app.manifest.status!r})")
        scoped = self._scoped.get(slug)
        if scoped is None:
            options = {
                name: settings.create_options()
                for name, settings in app.manifest.collection_settings.items()
            }
            scoped = self._scoped[slug] = ScopedDatabase(
                self._database(),
                slug,
                collection_options=options,
                read_access=self._check_read_access,
                observer=self._metrics.operation,
            )
        return scoped

    def _check_read_access(self, reader: str, owner: str, collection: str | None) -> None:
        check_read_access(self._apps.get(reader), self._apps.get(owner), reader, owner, collection)

    async def system_collection(
        self, name: str, *, ttl_field: str | None = None
    ) -> AsyncCollection[Mapping[str, Any]]:
        """The engine's own collection ``_mdb_engine_<name>`` (never reachable from apps).

        For the engine's services (sessions, rate limits, buses); ``ttl_field`` names a date
        field after which the server deletes a document.
        """
        if self._system is None:
            self._system = SystemCollections(self._database())
        return await self._system.get(name, ttl_field=ttl_field)

    def start_session(
        self,
        causal_consistency: bool | None = None,
        default_transaction_options: TransactionOptions | None = None,
        snapshot: bool | None = False,
    ) -> AsyncClientSession:
        """A client session for transactions across scoped collections (``session=``)."""
        return self._connected_client().start_session(
            causal_consistency=causal_consistency,
            default_transaction_options=default_transaction_options,
            snapshot=snapshot,
        )


def _declared_indexes(manifest: AppManifest) -> dict[str, list[IndexSpec]]:
    """The manifest's indexes plus those its auth features need (a unique users email)."""
    implied = auth_indexes(manifest)
    if not implied:
        return manifest.managed_indexes
    merged = {name: list(specs) for name, specs in manifest.managed_indexes.items()}
    for name, specs in implied.items():
        merged.setdefault(name, []).extend(specs)
    return merged


def _collision_problem(slug: str, other: str) -> ManifestProblem:
    return ManifestProblem(
        "$.slug",
        f"slug {slug!r} collides with the registered app {other!r}",
        f"collection names join slug and name with '_', so {slug!r}_… and {other!r}_… "
        "could name the same collection; choose a slug that neither starts with the other "
        "followed by '_' nor is such a prefix",
    )
