"""App-tagged, redacted, per-app formatted log records."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import jwt
import pytest
from pwdlib import PasswordHash

from mdb_engine.observability.context import app_context, request_context
from mdb_engine.observability.logging import (
    TEXT_FORMAT,
    AppAwareFormatter,
    AppContextFilter,
    AppLevelFilter,
    AppLogSettings,
    JsonFormatter,
    RedactingFilter,
    install_log_handler,
    redact,
    remove_log_handler,
    required_logger_level,
)
from tests.observability.conftest import CollectingHandler

JWT_KEY = "a-test-signing-key-that-is-long-enough-for-hs256"


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A private logger at DEBUG that does not propagate to the root logger."""
    target = logging.getLogger("tests.observability.logging")
    level, propagate = target.level, target.propagate
    target.setLevel(logging.DEBUG)
    target.propagate = False
    existing = list(target.handlers)
    yield target
    target.setLevel(level)
    target.propagate = propagate
    for handler in list(target.handlers):
        if handler not in existing:
            target.removeHandler(handler)


@pytest.fixture
def collected(settings: AppLogSettings, logger: logging.Logger) -> CollectingHandler:
    handler = CollectingHandler()
    assert install_log_handler(settings, handler, logger) is handler
    return handler


def make_record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("some.module", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


# --- AppContextFilter -------------------------------------------------------------------


def test_context_filter_marks_records_outside_any_context_with_a_dash() -> None:
    record = make_record("hello")
    assert AppContextFilter().filter(record) is True
    assert (record.app_id, record.request_id) == ("-", "-")


def test_context_filter_reads_the_context_variables() -> None:
    record = make_record("hello")
    with app_context("alpha"), request_context("req-1"):
        AppContextFilter().filter(record)
    assert (record.app_id, record.request_id) == ("alpha", "req-1")


def test_context_filter_keeps_values_passed_with_extra() -> None:
    record = make_record("hello", app_id="beta", request_id="given")
    with app_context("alpha"), request_context("req-1"):
        AppContextFilter().filter(record)
    assert (record.app_id, record.request_id) == ("beta", "given")


# --- redaction --------------------------------------------------------------------------


def test_a_real_jwt_is_masked() -> None:
    token = jwt.encode({"sub": "user-1"}, JWT_KEY, algorithm="HS256")
    assert redact(f"issued {token} to user-1") == "issued [REDACTED] to user-1"


def test_an_argon2_hash_from_pwdlib_is_masked() -> None:
    password_hash = PasswordHash.recommended().hash("correct horse")
    assert password_hash.startswith("$argon2")
    assert redact(f"stored {password_hash} for bob") == "stored [REDACTED] for bob"


def test_a_literal_argon2_hash_is_masked() -> None:
    literal = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
    assert redact(f"hash={literal}") == "hash=[REDACTED]"


def test_a_refresh_token_is_masked() -> None:
    refresh = "Vb3kQk1Zr0xJ8m2WqQ9a1g." + "x" * 43
    assert redact(f"rotated {refresh} ok") == "rotated [REDACTED] ok"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("login password=hunter2 user=bob", "login password=[REDACTED] user=bob"),
        ("PASSWORD=hunter2", "PASSWORD=[REDACTED]"),
        ("MDB_ENGINE_SECRET_KEY=abc123", "MDB_ENGINE_SECRET_KEY=[REDACTED]"),
        ('api_key="k 1" next', 'api_key="[REDACTED]" next'),
        ('{"password": "x"}', '{"password": "[REDACTED]"}'),
        ('{"user": "bob", "Token": "abc"}', '{"user": "bob", "Token": "[REDACTED]"}'),
        ("{'passwd': 'x', 'n': 1}", "{'passwd': '[REDACTED]', 'n': 1}"),
        ("{'client_secret': 'x'}", "{'client_secret': '[REDACTED]'}"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: [REDACTED]"),
        ("authorization: Basic dXNlcjpwYXNz", "authorization: [REDACTED]"),
        ("sent Bearer abc.def.ghi upstream", "sent Bearer [REDACTED] upstream"),
    ],
)
def test_secret_values_are_masked(message: str, expected: str) -> None:
    assert redact(message) == expected
    assert redact(expected) == expected  # the filter and then the formatter both redact


@pytest.mark.parametrize(
    "message",
    [
        "user bob logged in from 10.0.0.1",
        "inserted 3 documents into alpha_items",
        "validate the token's audience",
        "",
    ],
)
def test_messages_without_secrets_are_untouched(message: str) -> None:
    assert redact(message) == message


def test_redacting_filter_rewrites_only_records_with_secrets() -> None:
    clean = make_record("user %s from %s", "bob", "10.0.0.1")
    assert RedactingFilter().filter(clean) is True
    assert (clean.msg, clean.args) == ("user %s from %s", ("bob", "10.0.0.1"))

    secret = make_record("login %s", "password=hunter2")
    assert RedactingFilter().filter(secret) is True
    assert (secret.msg, secret.args) == ("login password=[REDACTED]", ())


def test_redacting_filter_keeps_a_record_whose_message_cannot_be_formatted() -> None:
    record = make_record("%d items", "not a number")
    assert RedactingFilter().filter(record) is True
    assert record.args == ("not a number",)


def test_records_through_the_handler_hold_no_secret(
    collected: CollectingHandler, logger: logging.Logger
) -> None:
    token = jwt.encode({"sub": "user-1"}, JWT_KEY, algorithm="HS256")
    logger.info("issued %s", token)
    logger.info("login password=%s", "hunter2")
    assert collected.records[0].getMessage() == "issued [REDACTED]"
    assert token not in collected.lines[0]
    assert collected.lines[1].endswith(": login password=[REDACTED]")


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_exception_text_is_masked(
    settings: AppLogSettings,
    collected: CollectingHandler,
    logger: logging.Logger,
    output_format: str,
) -> None:
    settings.set("alpha", "DEBUG", "json" if output_format == "json" else "text")
    token = jwt.encode({"sub": "user-1"}, JWT_KEY, algorithm="HS256")
    with app_context("alpha"):
        try:
            raise ValueError(f"rejected token {token}")
        except ValueError:
            logger.exception("request failed")
    (line,) = collected.lines
    assert token not in line
    assert "rejected token [REDACTED]" in line
    if output_format == "json":
        assert "ValueError" in json.loads(line)["exc_info"]


# --- formatters -------------------------------------------------------------------------


def test_json_formatter_writes_one_object_per_record() -> None:
    record = make_record("hello %s", "world", app_id="alpha", request_id="r1", user="bob")
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert (entry["level"], entry["logger"]) == ("INFO", "some.module")
    assert (entry["app_id"], entry["request_id"]) == ("alpha", "r1")
    assert entry["user"] == "bob"
    assert entry["time"].endswith("Z")
    assert "exc_info" not in entry


def test_json_formatter_masks_secret_extras_and_stringifies_the_rest() -> None:
    token = jwt.encode({"sub": "user-1"}, JWT_KEY, algorithm="HS256")
    record = make_record("x", api_key="k", note=f"got {token}", when=object())
    entry = json.loads(JsonFormatter().format(record))
    assert entry["api_key"] == "[REDACTED]"
    assert entry["note"] == "got [REDACTED]"
    assert entry["when"].startswith("<object object")
    assert (entry["app_id"], entry["request_id"]) == ("-", "-")


def test_text_format_shows_app_and_request() -> None:
    formatter = AppAwareFormatter(AppLogSettings())
    line = formatter.format(make_record("hello", app_id="alpha", request_id="r1"))
    assert line.endswith("INFO [alpha r1] some.module: hello")
    assert "%(app_id)s" in TEXT_FORMAT


def test_text_format_works_on_records_no_filter_has_seen() -> None:
    line = AppAwareFormatter(AppLogSettings()).format(make_record("hello"))
    assert line.endswith("INFO [- -] some.module: hello")


def test_app_aware_formatter_uses_each_apps_format(settings: AppLogSettings) -> None:
    settings.set("beta", "INFO", "json")
    formatter = AppAwareFormatter(settings)
    text = formatter.format(make_record("hi", app_id="alpha", request_id="r1"))
    entry = json.loads(formatter.format(make_record("hi", app_id="beta", request_id="r2")))
    assert text.endswith("[alpha r1] some.module: hi")
    assert (entry["app_id"], entry["request_id"], entry["message"]) == ("beta", "r2", "hi")


# --- per-app levels and settings ---------------------------------------------------------


def test_each_app_keeps_its_own_level(
    settings: AppLogSettings, collected: CollectingHandler, logger: logging.Logger
) -> None:
    settings.set("alpha", "WARNING", "text")
    settings.set("beta", "info", "json")
    for app in ("alpha", "beta"):
        with app_context(app):
            logger.info("info from %s", app)
            logger.warning("warning from %s", app)
    logger.info("info from no app")
    kept = [(record.app_id, record.levelname) for record in collected.records]
    assert kept == [("alpha", "WARNING"), ("beta", "INFO"), ("beta", "WARNING"), ("-", "INFO")]
    assert json.loads(collected.lines[1])["message"] == "info from beta"
    assert collected.lines[0].endswith("[alpha -] tests.observability.logging: warning from alpha")


def test_level_filter_lets_removed_apps_through(settings: AppLogSettings) -> None:
    settings.set("alpha", logging.ERROR)
    level_filter = AppLevelFilter(settings)
    record = make_record("hi", app_id="alpha")
    assert level_filter.filter(record) is False
    settings.remove("alpha")
    settings.remove("never-set")
    assert level_filter.filter(record) is True


def test_settings_refuse_unknown_levels_and_formats(settings: AppLogSettings) -> None:
    with pytest.raises(ValueError, match="level"):
        settings.set("alpha", "LOUD")
    with pytest.raises(ValueError, match="format"):
        settings.set("alpha", "INFO", "xml")  # type: ignore[arg-type]
    assert settings.get("alpha") is None
    assert settings.get(None) is None


def test_required_logger_level_names_what_the_host_must_lower(
    settings: AppLogSettings, logger: logging.Logger
) -> None:
    assert required_logger_level(settings, logger) is None
    settings.set("alpha", "INFO")
    settings.set("beta", "ERROR")
    logger.setLevel(logging.WARNING)
    assert required_logger_level(settings, logger) == logging.INFO
    logger.setLevel(logging.DEBUG)
    assert required_logger_level(settings, logger) is None


# --- installing the handler ---------------------------------------------------------------


def test_install_is_idempotent_per_settings(
    settings: AppLogSettings, logger: logging.Logger
) -> None:
    first = install_log_handler(settings, logger=logger)
    assert isinstance(first, logging.StreamHandler)
    assert first.stream is sys.stderr
    assert install_log_handler(settings, CollectingHandler(), logger) is first
    other = install_log_handler(AppLogSettings(), CollectingHandler(), logger)
    assert other is not first
    assert [handler for handler in logger.handlers if handler in (first, other)] == [first, other]
    remove_log_handler(first, logger)
    remove_log_handler(other, logger)
    assert first not in logger.handlers
    assert other not in logger.handlers


def test_install_defaults_to_the_root_logger_and_leaves_its_level(
    settings: AppLogSettings,
) -> None:
    root = logging.getLogger()
    level = root.level
    handler = install_log_handler(settings, CollectingHandler())
    try:
        assert handler in root.handlers
        assert root.level == level
    finally:
        remove_log_handler(handler)
    assert handler not in root.handlers
