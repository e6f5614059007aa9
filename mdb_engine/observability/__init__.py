"""Observability: app-tagged logs, Prometheus metrics, health and readiness."""

from __future__ import annotations

from mdb_engine.observability.context import (
    APP_ID,
    REQUEST_ID,
    app_context,
    current_app_id,
    request_context,
)
from mdb_engine.observability.endpoints import mount_observability
from mdb_engine.observability.logging import (
    TEXT_FORMAT,
    AppAwareFormatter,
    AppContextFilter,
    AppLevelFilter,
    AppLogSetting,
    AppLogSettings,
    JsonFormatter,
    LogFormat,
    RedactingFilter,
    install_log_handler,
    redact,
    remove_log_handler,
    required_logger_level,
)
from mdb_engine.observability.metrics import EngineMetrics
from mdb_engine.observability.middleware import REQUEST_ID_HEADER, RequestContextMiddleware

__all__ = [
    "APP_ID",
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "TEXT_FORMAT",
    "AppAwareFormatter",
    "AppContextFilter",
    "AppLevelFilter",
    "AppLogSetting",
    "AppLogSettings",
    "EngineMetrics",
    "JsonFormatter",
    "LogFormat",
    "RedactingFilter",
    "RequestContextMiddleware",
    "app_context",
    "current_app_id",
    "install_log_handler",
    "mount_observability",
    "redact",
    "remove_log_handler",
    "request_context",
    "required_logger_level",
]
