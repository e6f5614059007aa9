"""Index management: the indexes a manifest declares exist after start-up."""

from __future__ import annotations

from mdb_engine.indexes.create import create_declared_indexes, index_model

__all__ = ["create_declared_indexes", "index_model"]
