"""What the console shows, read through the engine and each app's sandbox, as plain data.

Every function here reads an app's data through ``engine.get_scoped_db(slug)`` or an engine
method and returns dataclasses of strings, numbers and dates: nothing that could reach the
database is handed on to the templates.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mdb_engine.auth.users import normalize_email, public_user
from mdb_engine.indexes import IndexChange, IndexPlan

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = [
    "AppSummary",
    "CollectionCount",
    "FailedApp",
    "IndexPlanView",
    "MetricRow",
    "MetricsView",
    "OperationRow",
    "PlanRow",
    "UserRow",
    "UsersView",
    "app_summary",
    "collection_counts",
    "index_plan",
    "list_apps",
    "metrics_summary",
    "users_and_roles",
]

USERS_SHOWN = 50
_OPERATIONS = "mdb_engine_operations_total"
_DURATION_SUM = "mdb_engine_operation_duration_seconds_sum"
_DURATION_COUNT = "mdb_engine_operation_duration_seconds_count"


@dataclass(frozen=True)
class AppSummary:
    """A registered app as the apps page lists it."""

    slug: str
    name: str
    status: str
    version: str | None
    description: str | None
    is_active: bool


@dataclass(frozen=True)
class FailedApp:
    """An app the host could not load: its folder (or slug) and why."""

    source: str
    message: str


@dataclass(frozen=True)
class CollectionCount:
    """One of an app's collections (logical name) and how many documents it holds."""

    name: str
    documents: int
    exists: bool = True


@dataclass(frozen=True)
class PlanRow:
    """One index of the plan: declared against actual, and what a sync would do."""

    collection: str
    name: str
    kind: str
    action: str
    declared: str
    actual: str
    detail: str


@dataclass(frozen=True)
class IndexPlanView:
    """An app's index plan."""

    rows: tuple[PlanRow, ...]
    counts: dict[str, int]
    is_in_sync: bool


@dataclass(frozen=True)
class UserRow:
    """An app user (never its password hash) with its roles."""

    user_id: str
    email: str
    name: str
    roles: tuple[str, ...]
    policy_roles: tuple[str, ...] | None


@dataclass(frozen=True)
class UsersView:
    """An app's users, or why there are none to show."""

    has_auth: bool
    has_users: bool
    note: str
    provider: str | None = None
    total: int = 0
    rows: tuple[UserRow, ...] = ()


@dataclass(frozen=True)
class MetricRow:
    """One sample of one of the app's metrics."""

    metric: str
    labels: str
    value: str


@dataclass(frozen=True)
class OperationRow:
    """The app's calls of one operation on one collection."""

    collection: str
    operation: str
    calls: int
    errors: int
    mean_ms: str


@dataclass(frozen=True)
class MetricsView:
    """An app's metrics: its scoped operations, and its other counters and gauges."""

    operations: tuple[OperationRow, ...]
    others: tuple[MetricRow, ...]


def app_summary(engine: MongoDBEngine, slug: str) -> AppSummary | None:
    """The registered app ``slug``, or ``None``."""
    registered = engine.get_app(slug)
    if registered is None:
        return None
    manifest = registered.manifest
    return AppSummary(
        slug=slug,
        name=manifest.name,
        status=manifest.status,
        version=manifest.version,
        description=manifest.description,
        is_active=registered.is_active,
    )


def list_apps(
    engine: MongoDBEngine, load_errors: Callable[[], Mapping[str, str]] | None
) -> tuple[list[AppSummary], list[FailedApp]]:
    """The registered apps and the apps the host failed to load."""
    apps = [summary for slug in engine.list_apps() if (summary := app_summary(engine, slug))]
    failed = [
        FailedApp(str(source), str(message))
        for source, message in sorted((load_errors() if load_errors else {}).items())
    ]
    return apps, failed


async def collection_counts(engine: MongoDBEngine, slug: str) -> list[CollectionCount]:
    """The app's collections with their document counts; declared ones not created yet too."""
    db = engine.get_scoped_db(slug)
    names = sorted(await db.list_collection_names())
    counts = await asyncio.gather(*(db[name].count_documents({}) for name in names))
    shown = [CollectionCount(name, count) for name, count in zip(names, counts, strict=True)]
    manifest = engine.get_manifest(slug)
    declared = set(manifest.managed_indexes) | set(manifest.collection_settings) if manifest else ()
    shown.extend(
        CollectionCount(name, 0, exists=False) for name in sorted(set(declared) - set(names))
    )
    return shown


async def index_plan(engine: MongoDBEngine, slug: str) -> IndexPlanView:
    """Declared indexes against the server's, with what a sync would do."""
    plan: IndexPlan = await engine.plan_indexes(slug)
    return IndexPlanView(
        rows=tuple(_plan_row(change) for change in plan.changes),
        counts={action: count for action, count in plan.counts().items() if count},
        is_in_sync=plan.is_in_sync,
    )


def _plan_row(change: IndexChange) -> PlanRow:
    return PlanRow(
        collection=change.collection,
        name=change.name,
        kind=change.kind,
        action=change.action.value,
        declared=_compact(change.declared),
        actual=_compact(change.existing),
        detail=change.detail,
    )


def _compact(spec: Mapping[str, Any] | None) -> str:
    if spec is None:
        return ""
    shown = {key: value for key, value in spec.items() if key not in ("name", "status")}
    return json.dumps(shown, default=str, separators=(", ", ": "))


async def users_and_roles(engine: MongoDBEngine, slug: str, limit: int = USERS_SHOWN) -> UsersView:
    """The app's users (the newest ``limit``) and their roles, through the app's sandbox."""
    app_auth = engine.get_app_auth(slug)
    if app_auth is None:
        return UsersView(has_auth=False, has_users=False, note="This app declares no auth.")
    provider = type(app_auth.provider).__name__ if app_auth.provider is not None else None
    users_config = app_auth.users_config
    if users_config is None or app_auth.is_anonymous_strategy:
        note = (
            "Visitors get anonymous sessions; there are no accounts."
            if app_auth.is_anonymous_strategy
            else "This app has no users of its own."
        )
        return UsersView(has_auth=True, has_users=False, note=note, provider=provider)
    users = engine.get_scoped_db(slug)[users_config.collection]
    total = await users.count_documents({})
    documents = await users.find(
        {}, {"password_hash": 0}, sort=[("created_at", -1), ("_id", -1)], limit=limit
    ).to_list()
    get_roles = getattr(app_auth.provider, "get_roles_for_user", None)
    rows = []
    for document in documents:
        user = public_user(document)
        email = str(user["email"] or "")
        policy_roles = (
            tuple(await get_roles(normalize_email(email))) if get_roles and email else None
        )
        rows.append(
            UserRow(
                user_id=str(user["user_id"]),
                email=email,
                name=str(user["name"] or ""),
                roles=tuple(str(role) for role in user["roles"]),
                policy_roles=policy_roles,
            )
        )
    return UsersView(
        has_auth=True,
        has_users=True,
        note="" if total <= limit else f"The newest {limit} of {total} users.",
        provider=provider,
        total=total,
        rows=tuple(rows),
    )


def metrics_summary(snapshot: Mapping[str, Any], slug: str) -> MetricsView:
    """The app's metrics from ``engine.get_metrics()``: its operations per collection and
    operation (calls, errors, mean duration), then its other non-zero counters and gauges."""
    calls: dict[tuple[str, str], dict[str, float]] = {}
    others = []
    for metric, samples in sorted(snapshot.items()):
        for sample in samples:
            labels = sample.get("labels", {})
            if labels.get("app") != slug or metric.endswith("_bucket"):
                continue
            value = float(sample.get("value", 0))
            key = (str(labels.get("collection", "")), str(labels.get("operation", "")))
            if metric == _OPERATIONS:
                outcome = "errors" if labels.get("outcome") == "error" else "ok"
                calls.setdefault(key, {})[outcome] = value
            elif metric in (_DURATION_SUM, _DURATION_COUNT):
                calls.setdefault(key, {})[metric] = value
            elif value != 0:
                shown = ", ".join(
                    f"{name}={labels[name]}" for name in sorted(labels) if name != "app"
                )
                others.append(MetricRow(metric, shown, _number(value)))
    operations = []
    for (collection, operation), numbers in sorted(calls.items()):
        count = numbers.get(_DURATION_COUNT, 0.0)
        mean = numbers.get(_DURATION_SUM, 0.0) / count * 1000 if count else 0.0
        operations.append(
            OperationRow(
                collection,
                operation,
                calls=int(numbers.get("ok", 0) + numbers.get("errors", 0)),
                errors=int(numbers.get("errors", 0)),
                mean_ms=f"{mean:.2f}",
            )
        )
    return MetricsView(operations=tuple(operations), others=tuple(others))


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.4g}"
