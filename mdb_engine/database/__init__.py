"""The sandbox: scoped databases, collections and cursors, and the pure rewrite rules."""

from __future__ import annotations

from mdb_engine.database.collection import ScopedCollection
from mdb_engine.database.cursor import ScopedCursor
from mdb_engine.database.db import ScopedDatabase

__all__ = ["ScopedCollection", "ScopedCursor", "ScopedDatabase"]
