"""Per-user memories of an app: the builtin store on the embedding service, or Mem0.

``MemoryStore`` is the interface; ``MemoryService`` keeps memories in the app's scoped
``memory_config.collection``; ``Mem0Memory`` adapts Mem0's ``AsyncMemory`` (the ``mem0``
extra, imported only when used). ``EngineMemory`` builds one store per app from its manifest.
"""

from __future__ import annotations

from mdb_engine.memory.base import ChatMessage, Memory, MemoryHit, MemoryStore
from mdb_engine.memory.mem0 import Mem0Memory, load_mem0_config
from mdb_engine.memory.registry import EngineMemory
from mdb_engine.memory.service import MemoryService

__all__ = [
    "ChatMessage",
    "EngineMemory",
    "Mem0Memory",
    "Memory",
    "MemoryHit",
    "MemoryService",
    "MemoryStore",
    "load_mem0_config",
]
