"""The sandbox: scoped databases, collections and cursors, and the pure rewrite rules."""

from __future__ import annotations

from mdb_engine.database.change_stream import ScopedChangeStream
from mdb_engine.database.collection import ScopedCollection
from mdb_engine.database.cursor import ScopedCommandCursor, ScopedCursor
from mdb_engine.database.db import ScopedDatabase
from mdb_engine.database.views import ReadOnlyCollection, ReadOnlyDatabase

__all__ = [
    "ReadOnlyCollection",
    "ReadOnlyDatabase",
    "ScopedChangeStream",
    "ScopedCollection",
    "ScopedCommandCursor",
    "ScopedCursor",
    "ScopedDatabase",
]
