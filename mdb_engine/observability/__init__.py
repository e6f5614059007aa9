"""Observability: app-tagged logs, Prometheus metrics, health and readiness."""

from __future__ import annotations

from mdb_engine.observability.context import (
    APP_ID,
    REQUEST_ID,
    app_context,
    current_app_id,
    request_context,
)

__all__ = ["APP_ID", "REQUEST_ID", "app_context", "current_app_id", "request_context"]
