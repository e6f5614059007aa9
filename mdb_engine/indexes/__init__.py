"""Index management: manifest index specs -> normalized specs -> plan (diff) -> apply.

The indexes a manifest declares exist after start-up; an unchanged restart sends no
index-building command; anything that only a rebuild could change is a conflict, never a
silent drop.
"""

from __future__ import annotations

from mdb_engine.indexes.plan import IndexAction, IndexChange, IndexPlan
from mdb_engine.indexes.report import render_plan, render_sync_result
from mdb_engine.indexes.sync import (
    SEARCH_FALLBACK,
    IndexSyncResult,
    OnConflict,
    plan_indexes,
    sync_indexes,
)

__all__ = [
    "SEARCH_FALLBACK",
    "IndexAction",
    "IndexChange",
    "IndexPlan",
    "IndexSyncResult",
    "OnConflict",
    "plan_indexes",
    "render_plan",
    "render_sync_result",
    "sync_indexes",
]
