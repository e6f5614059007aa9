"""This process's WebSocket connections, by app and by user."""

from __future__ import annotations

from collections import defaultdict

from mdb_engine.routing.connection import Connection

__all__ = ["ConnectionManager"]


class ConnectionManager:
    """Knows every open connection of this process; fans messages out without waiting."""

    def __init__(self) -> None:
        self._by_app: dict[str, dict[str, Connection]] = defaultdict(dict)

    def add(self, connection: Connection) -> None:
        """Start delivering the app's messages to ``connection``."""
        self._by_app[connection.app][connection.id] = connection

    def remove(self, connection: Connection) -> None:
        """Stop delivering to ``connection``."""
        connections = self._by_app.get(connection.app)
        if connections is not None:
            connections.pop(connection.id, None)
            if not connections:
                del self._by_app[connection.app]

    def deliver(self, app: str, text: str, user_id: str | None = None) -> int:
        """Queue ``text`` for every connection of ``app`` (or of one of its users); how many
        took it. Only ``app``'s connections are ever looked at."""
        delivered = 0
        for connection in list(self._by_app.get(app, {}).values()):
            if user_id is not None and connection.user_id != user_id:
                continue
            delivered += connection.offer(text)
        return delivered

    def connections(self, app: str | None = None) -> list[Connection]:
        """The open connections (of one app)."""
        if app is not None:
            return list(self._by_app.get(app, {}).values())
        return [c for connections in self._by_app.values() for c in connections.values()]

    def count(self, app: str | None = None) -> int:
        """How many connections are open (for one app)."""
        return len(self.connections(app))
