"""Index plans and sync results as plain-text tables (for the CLI and for logs)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mdb_engine.indexes.plan import IndexAction, IndexChange, IndexPlan
from mdb_engine.indexes.sync import IndexSyncResult

__all__ = ["render_plan", "render_sync_result"]

_HEADERS = ("COLLECTION", "INDEX", "KIND", "ACTION", "DETAIL")


def render_plan(plan: IndexPlan) -> str:
    """A table of every index in the plan with its action, then a one-line summary."""
    rows = [_row(change, change.action.value) for change in plan.changes]
    return _table(plan.slug, rows, _summary(plan.counts()))


def render_sync_result(result: IndexSyncResult) -> str:
    """A table of what a sync did to each index, then a one-line summary."""
    done: dict[int, str] = {}
    for label, changes in (
        ("created", result.created),
        ("modified", result.modified),
        ("recreated", result.recreated),
        ("dropped", result.dropped),
    ):
        for change in changes:
            done[id(change)] = label
    rows = [
        _row(change, done.get(id(change), _left_alone(change))) for change in result.plan.changes
    ]
    counts = {
        "created": len(result.created),
        "modified": len(result.modified),
        "recreated": len(result.recreated),
        "dropped": len(result.dropped),
        "unchanged": len(result.plan.unchanged),
        "extra": len(result.plan.extra) - len(result.dropped),
        "unsupported": len(result.plan.unsupported),
    }
    return _table(result.plan.slug, rows, _summary(counts))


def _left_alone(change: IndexChange) -> str:
    if change.action is IndexAction.EXTRA:
        return "extra (kept)"
    return str(change.action.value)


def _row(change: IndexChange, action: str) -> tuple[str, ...]:
    detail = change.detail
    if change.action is IndexAction.CREATE and change.declared is not None:
        detail = _compact(change.declared)
    elif change.action is IndexAction.EXTRA and change.existing is not None:
        detail = _compact(change.existing)
    return (change.collection, change.name, change.kind, action, detail)


def _compact(spec: Mapping[str, Any]) -> str:
    shown = {key: value for key, value in spec.items() if key not in ("name", "status")}
    text: str = json.dumps(shown, default=str, separators=(",", ":"))
    return text


def _summary(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {label}" for label, count in counts.items() if count) or "nothing"


def _table(slug: str, rows: Sequence[tuple[str, ...]], summary: str) -> str:
    if not rows:
        return f"app {slug}: no indexes declared or found\n"
    widths = [
        max(len(row[column]) for row in (_HEADERS, *rows)) for column in range(len(_HEADERS) - 1)
    ]
    lines = [f"app {slug}"]
    for row in (_HEADERS, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    lines.append(f"  {summary}")
    return "\n".join(lines) + "\n"
