"""Realtime: the manifest's WebSocket endpoints and broadcasts across worker processes."""

from __future__ import annotations

from mdb_engine.routing.api import broadcast_to_app, register_message_handler
from mdb_engine.routing.connection import Connection
from mdb_engine.routing.realtime import MessageHandler, Realtime
from mdb_engine.routing.ws_auth import BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL

__all__ = [
    "BEARER_SUBPROTOCOL_PREFIX",
    "SUBPROTOCOL",
    "Connection",
    "MessageHandler",
    "Realtime",
    "broadcast_to_app",
    "register_message_handler",
]
