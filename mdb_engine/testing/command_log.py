"""A CommandListener that records every command sent to the server, for wire-level tests."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import monitoring

__all__ = ["CommandLog", "CommandRecord"]

# Commands the driver sends on its own (handshakes, session cleanup); not user operations.
DRIVER_COMMANDS = frozenset(
    {"hello", "ismaster", "isMaster", "endSessions", "saslStart", "saslContinue", "killCursors"}
)
# Engine collections written in the background, at times no test controls (an app's ERROR
# record is stored a moment after it is logged); not the operations a test is about.
BACKGROUND_COLLECTIONS = frozenset({"_mdb_engine_errors"})


@dataclass(frozen=True)
class CommandRecord:
    """One command as it went over the wire."""

    name: str
    database: str
    command: Mapping[str, Any]

    @property
    def collection(self) -> str | None:
        """The collection a collection-level command names (``find: "my_app_tasks"``)."""
        target = self.command.get(self.name)
        return target if isinstance(target, str) else None


class CommandLog(monitoring.CommandListener):
    """Records a deep copy of every started command; attach it with ``event_listeners=[log]``."""

    def __init__(self) -> None:
        self._records: list[CommandRecord] = []
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        record = CommandRecord(
            event.command_name, event.database_name, copy.deepcopy(dict(event.command))
        )
        with self._lock:
            self._records.append(record)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Not recorded: only what is sent matters here."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Not recorded: only what is sent matters here."""

    @property
    def commands(self) -> list[CommandRecord]:
        """Every recorded command except the driver's own (handshakes, endSessions…) and the
        engine's background writes (the error log's)."""
        with self._lock:
            return [
                r
                for r in self._records
                if r.name not in DRIVER_COMMANDS and r.collection not in BACKGROUND_COLLECTIONS
            ]

    @property
    def all_commands(self) -> list[CommandRecord]:
        """Every recorded command, the driver's and the background ones included."""
        with self._lock:
            return list(self._records)

    def named(self, *names: str) -> list[CommandRecord]:
        """The recorded commands with one of ``names`` (``"find"``, ``"insert"``…)."""
        return [record for record in self.commands if record.name in names]

    def names(self) -> list[str]:
        """The names of the recorded commands, in order."""
        return [record.name for record in self.commands]

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._records.clear()
