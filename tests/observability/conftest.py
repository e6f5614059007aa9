"""What the logging tests share: a handler that keeps what it handled, and fresh settings."""

from __future__ import annotations

import logging

import pytest

from mdb_engine.observability import AppLogSettings


class CollectingHandler(logging.Handler):
    """Keeps every record it handles and the line its formatter made of it."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def settings() -> AppLogSettings:
    return AppLogSettings()
