"""Find and run a local mongod (single-node replica set) for development and tests."""

from __future__ import annotations

from mdb_engine.embedded.local_replica_set import LocalReplicaSet
from mdb_engine.embedded.locate import find_mongod
from mdb_engine.embedded.process import LocalMongod

__all__ = ["LocalMongod", "LocalReplicaSet", "find_mongod"]
