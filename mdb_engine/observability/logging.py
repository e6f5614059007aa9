"""App-tagged, redacted log records: filters, formatters and the handler the engine installs.

Every record that passes the engine's handler carries ``app_id`` and ``request_id`` (read from
:mod:`mdb_engine.observability.context`), has its secrets masked, and is formatted as text or
JSON and filtered by level according to the app's manifest (``observability.logging``).

The handler never changes a logger's level. Python's root logger defaults to ``WARNING``, so an
app that declares ``INFO`` sees its INFO records only once the host lowers the level (for
example ``logging.getLogger().setLevel(logging.INFO)``); :func:`required_logger_level` tells the
caller which level that is. A library must not call ``logging.basicConfig``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from mdb_engine.observability.context import APP_ID, REQUEST_ID

__all__ = [
    "TEXT_FORMAT",
    "AppAwareFormatter",
    "AppContextFilter",
    "AppLevelFilter",
    "AppLogSetting",
    "AppLogSettings",
    "JsonFormatter",
    "LogFormat",
    "RedactingFilter",
    "install_log_handler",
    "redact",
    "remove_log_handler",
    "required_logger_level",
]

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(app_id)s %(request_id)s] %(name)s: %(message)s"
UNSET = "-"
REDACTED = "[REDACTED]"

# Key names whose values are secrets, wherever they appear in the key (``MY_SECRET_KEY``).
_SECRET_KEY = r"[\w-]*?(?:passw(?:or)?d|pwd|secret|token|authorization|api[_-]?key|apikey)[\w-]*"
_QUOTED_VALUE = r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
_BARE_VALUE = r"(?:(?:bearer|basic|digest|token)\s+)?[^\s,;&'\"})\]]+"
# Redacting twice (filter, then formatter) must not mask the mask.
_ALREADY_MASKED = r"(?!\[REDACTED\])"
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "password": "x", 'token': 'x', "secret": 42 (JSON and Python reprs).
    (
        re.compile(
            rf"""(?P<head>(?P<q>["']){_SECRET_KEY}(?P=q)\s*[:=]\s*)"""
            rf"(?P<value>{_ALREADY_MASKED}(?:{_QUOTED_VALUE}|[^\s,}}\]]+))",
            re.IGNORECASE,
        ),
        "kv",
    ),
    # password=hunter2, api_key="x", and header lines such as Authorization: Basic abc.
    (
        re.compile(
            rf"(?P<head>(?<![\w-]){_SECRET_KEY}\s*=\s*"
            rf"|(?<![\w-])(?:proxy-)?authorization\s*:\s*|(?<![\w-])x-api-key\s*:\s*)"
            rf"(?P<value>{_ALREADY_MASKED}(?:{_QUOTED_VALUE}|{_BARE_VALUE}))",
            re.IGNORECASE,
        ),
        "kv",
    ),
    (re.compile(r"(?P<head>\bbearer\s+)(?P<value>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE), "kv"),
    (re.compile(r"\$argon2(?:id|i|d)\$[A-Za-z0-9$=,+/.-]+"), "all"),
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "all"),
    # Refresh tokens: "<session id>.<secret>", both token_urlsafe.
    (re.compile(r"(?<![\w.-])[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{40,}(?![\w.-])"), "all"),
)
# One cheap search that says whether any of the patterns above can match.
_PRECHECK = re.compile(
    r"passw|pwd|secret|token|auth|api[_-]?key|bearer|\$argon2|eyJ|[A-Za-z0-9_-]{40}",
    re.IGNORECASE,
)
_SECRET_KEY_NAME = re.compile(rf"^{_SECRET_KEY}$", re.IGNORECASE)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('head')}{quote}{REDACTED}{quote}"


def redact(text: str) -> str:
    """``text`` with tokens, password hashes and secret ``key=value`` pairs masked."""
    if not _PRECHECK.search(text):
        return text
    for pattern, kind in _SECRET_PATTERNS:
        text = pattern.sub(_mask_value if kind == "kv" else REDACTED, text)
    return text


@dataclass(frozen=True)
class AppLogSetting:
    """One app's declared log level (a ``logging`` number) and format."""

    level: int
    format: LogFormat = "text"


class AppLogSettings:
    """The log level and format each app of one engine declared, by slug."""

    def __init__(self) -> None:
        self._by_app: dict[str, AppLogSetting] = {}

    def set(self, slug: str, level: str | int = "INFO", format: LogFormat = "text") -> None:
        """Declare app ``slug``'s level (``"INFO"`` or ``logging.INFO``) and format."""
        number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
        if not isinstance(number, int):
            raise ValueError(f"unknown log level {level!r}")
        if format not in ("text", "json"):
            raise ValueError(f"unknown log format {format!r}")
        self._by_app[slug] = AppLogSetting(number, format)

    def remove(self, slug: str) -> None:
        """Forget app ``slug`` (its records then pass with the text format)."""
        self._by_app.pop(slug, None)

    def get(self, slug: str | None) -> AppLogSetting | None:
        """What app ``slug`` declared, if it declared anything."""
        return self._by_app.get(slug) if slug is not None else None

    def lowest_level(self) -> int | None:
        """The lowest level any app declared, or None without apps."""
        return min((setting.level for setting in self._by_app.values()), default=None)


class AppContextFilter(logging.Filter):
    """Stamp ``app_id`` and ``request_id`` from the context on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields unless the record already has them (``extra=``); keep the record."""
        if not hasattr(record, "app_id"):
            record.app_id = APP_ID.get() or UNSET
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or UNSET
        return True


class RedactingFilter(logging.Filter):
    """Mask secrets in the record's message and exception text; keep the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record only when something was masked."""
        try:
            message = record.getMessage()
        except Exception:  # A broken format string is the formatter's error to report.
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = ()
        if record.exc_info and not record.exc_text:
            exception_text = logging.Formatter().formatException(record.exc_info)
            redacted = redact(exception_text)
            if redacted != exception_text:
                record.exc_text = redacted  # Formatters reuse the cached text.
        return True


class AppLevelFilter(logging.Filter):
    """Drop records below the level their app declared; records of no app pass."""

    def __init__(self, settings: AppLogSettings) -> None:
        super().__init__()
        self.settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record if its app declared nothing or a level at or below it."""
        setting = self.settings.get(getattr(record, "app_id", None))
        return setting is None or record.levelno >= setting.level


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName", "app_id", "request_id"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, app and request ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON, secrets masked."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "app_id": getattr(record, "app_id", UNSET),
            "request_id": getattr(record, "request_id", UNSET),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = redact(self.formatStack(record.stack_info))
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRIBUTES or key.startswith("_") or key in entry:
                continue
            if _SECRET_KEY_NAME.match(key):
                entry[key] = REDACTED
            else:
                entry[key] = redact(value) if isinstance(value, str) else value
        return json.dumps(entry, default=str, ensure_ascii=False)


class AppAwareFormatter(logging.Formatter):
    """Format each record as text or JSON, as the record's app declared (text by default)."""

    def __init__(
        self,
        settings: AppLogSettings,
        text_format: str = TEXT_FORMAT,
        datefmt: str | None = None,
    ) -> None:
        super().__init__(text_format, datefmt)
        self.settings = settings
        self.text_formatter = logging.Formatter(
            text_format, datefmt, defaults={"app_id": UNSET, "request_id": UNSET}
        )
        self.json_formatter = JsonFormatter()

    def format(self, record: logging.LogRecord) -> str:
        """The record in its app's format, secrets masked."""
        setting = self.settings.get(getattr(record, "app_id", None))
        if setting is not None and setting.format == "json":
            return self.json_formatter.format(record)
        return redact(self.text_formatter.format(record))


def _installed_handler(settings: AppLogSettings, logger: logging.Logger) -> logging.Handler | None:
    for handler in logger.handlers:
        for handler_filter in handler.filters:
            if isinstance(handler_filter, AppLevelFilter) and handler_filter.settings is settings:
                return handler
    return None


def install_log_handler(
    settings: AppLogSettings,
    handler: logging.Handler | None = None,
    logger: logging.Logger | None = None,
) -> logging.Handler:
    """Attach a handler for ``settings`` to ``logger`` (the root logger) once; return it.

    The handler stamps app and request ids, drops records below their app's level, masks
    secrets and formats per app. If a handler for ``settings`` is already attached, that one
    is returned and ``handler`` is ignored. The logger's level is left alone: see
    :func:`required_logger_level`.
    """
    target = logger if logger is not None else logging.getLogger()
    installed = _installed_handler(settings, target)
    if installed is not None:
        return installed
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
    # Level first, so dropped records are never redacted.
    handler.addFilter(AppContextFilter())
    handler.addFilter(AppLevelFilter(settings))
    handler.addFilter(RedactingFilter())
    handler.setFormatter(AppAwareFormatter(settings))
    target.addHandler(handler)
    return handler


def remove_log_handler(handler: logging.Handler, logger: logging.Logger | None = None) -> None:
    """Detach ``handler`` from ``logger`` (the root logger) and close it."""
    target = logger if logger is not None else logging.getLogger()
    target.removeHandler(handler)
    handler.close()


def required_logger_level(
    settings: AppLogSettings, logger: logging.Logger | None = None
) -> int | None:
    """The level ``logger`` must be lowered to for every app's level to apply, or None.

    Records below a logger's effective level never reach any handler; the host application
    (not the engine) decides whether to lower it.
    """
    lowest = settings.lowest_level()
    target = logger if logger is not None else logging.getLogger()
    if lowest is None or target.getEffectiveLevel() <= lowest:
        return None
    return lowest
