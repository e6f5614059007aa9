"""Scoped-operation timings, accumulated cheaply and turned into Prometheus metrics only when
they are scraped.

Every scoped operation passes through here, so the hot path is a few additions on plain
Python numbers (no lock: the engine's operations all run on its event loop thread). A
custom collector turns them into ``mdb_engine_operation_duration_seconds`` (histogram) and
``mdb_engine_operations_total`` (counter by outcome) at scrape time.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from types import TracebackType

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from mdb_engine.observability.context import APP_ID

__all__ = ["BUCKETS", "OperationStats"]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_LABELS = ["app", "collection", "operation"]


class _Series:
    __slots__ = ("buckets", "errors", "ok", "total_seconds")

    def __init__(self) -> None:
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.ok = 0
        self.errors = 0
        self.total_seconds = 0.0


class OperationStats(Collector):
    """Durations and outcomes per (app, collection, operation)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], _Series] = {}

    def operation(self, app: str, collection: str, operation: str) -> _TimedOperation:
        """Time the block as one operation, run as app ``app`` (for the logs too)."""
        key = (app, collection, operation)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        return _TimedOperation(app, series)

    def collect(self) -> Iterator[HistogramMetricFamily | CounterMetricFamily]:
        """The metrics, for the Prometheus registry."""
        duration = HistogramMetricFamily(
            "mdb_engine_operation_duration_seconds",
            "Duration of scoped database operations.",
            labels=_LABELS,
        )
        outcomes = CounterMetricFamily(
            "mdb_engine_operations",
            "Scoped database operations by outcome.",
            labels=[*_LABELS, "outcome"],
        )
        for key, series in list(self._series.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*BUCKETS, float("inf")), series.buckets, strict=True):
                cumulative += count
                buckets.append((_bound_label(bound), cumulative))
            duration.add_metric(list(key), buckets, series.total_seconds)
            outcomes.add_metric([*key, "ok"], series.ok)
            outcomes.add_metric([*key, "error"], series.errors)
        yield duration
        yield outcomes


class _TimedOperation:
    """The context manager of :meth:`OperationStats.operation`."""

    __slots__ = ("_app", "_series", "_started", "_token")

    def __init__(self, app: str, series: _Series) -> None:
        self._app = app
        self._series = series

    def __enter__(self) -> None:
        self._token = APP_ID.set(self._app)
        self._started = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._started
        APP_ID.reset(self._token)
        series = self._series
        series.buckets[bisect_left(BUCKETS, elapsed)] += 1
        series.total_seconds += elapsed
        if exc_type is None:
            series.ok += 1
        else:
            series.errors += 1


def _bound_label(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
