"""The seed's module-level calls: ``await broadcast_to_app("my_app", {...})``.

They need the engine that serves the app. It is given with ``engine=``, or found among the
engines that are initialized in this process and have the app registered; two such engines
is an error asking for ``engine=`` (nothing is guessed, and a second engine never replaces
the first).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from mdb_engine.errors import AppNotRegistered, ConfigurationError
from mdb_engine.routing.realtime import MessageHandler

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = ["broadcast_to_app", "register_message_handler", "track_engine", "untrack_engine"]

# Initialized engines, weakly: only consulted to find the one engine serving a slug.
_LIVE: weakref.WeakSet[MongoDBEngine] = weakref.WeakSet()


def track_engine(engine: MongoDBEngine) -> None:
    """Called by ``engine.initialize()``."""
    _LIVE.add(engine)


def untrack_engine(engine: MongoDBEngine) -> None:
    """Called by ``engine.shutdown()``."""
    _LIVE.discard(engine)


def engine_serving(slug: str, engine: MongoDBEngine | None = None) -> MongoDBEngine:
    """``engine`` if given, else the one initialized engine that has ``slug`` registered."""
    if engine is not None:
        return engine
    serving = [candidate for candidate in list(_LIVE) if candidate.get_app(slug) is not None]
    if not serving:
        raise AppNotRegistered(slug, "is not registered on any initialized engine")
    if len(serving) > 1:
        raise ConfigurationError(
            f"{len(serving)} engines in this process serve app {slug!r}: pass engine=... "
            "(or call engine.broadcast_to_app)"
        )
    return serving[0]


async def broadcast_to_app(
    slug: str, message: Any, user_id: str | None = None, *, engine: MongoDBEngine | None = None
) -> int:
    """Send ``message`` (JSON-able) to every WebSocket client of app ``slug`` — or of its user
    ``user_id`` — in every worker process; how many clients of this process it was queued for."""
    return await engine_serving(slug, engine).broadcast_to_app(slug, message, user_id)


def register_message_handler(
    slug: str, endpoint: str, handler: MessageHandler, *, engine: MongoDBEngine | None = None
) -> None:
    """Handle the JSON messages clients send to the app's endpoint ``endpoint`` (the key under
    ``websockets`` in the manifest): ``handler(message, connection)``; a returned value is
    sent back to that client."""
    engine_serving(slug, engine).register_message_handler(slug, endpoint, handler)
