"""MDB_RUNTIME's name for the scoped database: ``AppDB`` is ``ScopedDatabase``."""

from __future__ import annotations

from mdb_engine.database import ScopedCollection, ScopedDatabase

AppDB = ScopedDatabase

__all__ = ["AppDB", "ScopedCollection"]
