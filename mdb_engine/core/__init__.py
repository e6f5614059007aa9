"""The engine's core: MongoDBEngine, its app registry, and the manifest."""

from __future__ import annotations

from mdb_engine.core.engine import MongoDBEngine, RegisteredApp

__all__ = ["MongoDBEngine", "RegisteredApp"]
