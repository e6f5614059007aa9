"""The engine's metrics, in a Prometheus registry of its own (two engines never mix).

- ``mdb_engine_operation_duration_seconds`` (histogram) and ``mdb_engine_operations_total``
  (counter, with ``outcome`` ok/error), per app, collection and operation of the scoped API;
- ``mdb_engine_auth_events_total`` per app and event (login, login_failed, register,
  refresh, refresh_refused, logout);
- ``mdb_engine_websocket_connections_open`` (gauge) and
  ``mdb_engine_websocket_connection_attempts_total`` (accepted / refused) per app;
- ``mdb_engine_index_sync_total`` per app and outcome (ok / conflict / error).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from mdb_engine.observability.operation_stats import OperationStats

__all__ = ["CONTENT_TYPE", "EngineMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class EngineMetrics:
    """Counters and histograms of one engine."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._operations = OperationStats()
        self.registry.register(self._operations)
        self._auth = Counter(
            "mdb_engine_auth_events", "Auth events.", ("app", "event"), registry=self.registry
        )
        self._ws_open = Gauge(
            "mdb_engine_websocket_connections_open",
            "Open WebSocket connections.",
            ("app",),
            registry=self.registry,
        )
        self._ws_total = Counter(
            "mdb_engine_websocket_connection_attempts",
            "WebSocket connection attempts by outcome.",
            ("app", "outcome"),
            registry=self.registry,
        )
        self._index_sync = Counter(
            "mdb_engine_index_sync",
            "Index syncs by outcome.",
            ("app", "outcome"),
            registry=self.registry,
        )

    def operation(self, app: str, collection: str, operation: str) -> AbstractContextManager[None]:
        """Time the block as one scoped operation, run as app ``app`` (for the logs too)."""
        return self._operations.operation(app, collection, operation)

    def auth_event(self, app: str, event: str) -> None:
        """Count an auth event."""
        self._auth.labels(app, event).inc()

    def websocket_opened(self, app: str) -> None:
        """A client was accepted."""
        self._ws_total.labels(app, "accepted").inc()
        self._ws_open.labels(app).inc()

    def websocket_refused(self, app: str) -> None:
        """A client was refused (1008)."""
        self._ws_total.labels(app, "refused").inc()

    def websocket_closed(self, app: str) -> None:
        """An accepted client went away."""
        self._ws_open.labels(app).dec()

    def index_sync(self, app: str, outcome: str) -> None:
        """Count an index sync by outcome."""
        self._index_sync.labels(app, outcome).inc()

    def render(self) -> bytes:
        """Everything in the Prometheus text format."""
        return generate_latest(self.registry)

    def snapshot(self) -> dict[str, Any]:
        """The metrics as plain data: ``{metric name: [{"labels": {...}, "value": v}, ...]}``."""
        result: dict[str, Any] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                result.setdefault(sample.name, []).append(
                    {"labels": dict(sample.labels), "value": sample.value}
                )
        return result
