"""Compatibility layer for the older MDB_RUNTIME API: ``RuntimeEngine`` is ``MongoDBEngine``."""

from __future__ import annotations

from mdb_engine.core import MongoDBEngine

RuntimeEngine = MongoDBEngine

__all__ = ["RuntimeEngine"]
