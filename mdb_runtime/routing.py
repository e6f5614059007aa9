"""MDB_RUNTIME's realtime names: ``broadcast_to_app`` and message handlers."""

from __future__ import annotations

from mdb_engine.routing import broadcast_to_app, register_message_handler

__all__ = ["broadcast_to_app", "register_message_handler"]
