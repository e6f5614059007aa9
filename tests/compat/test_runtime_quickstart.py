"""The MDB_RUNTIME names are the engine's (its quick start runs in tests/examples)."""

from __future__ import annotations

from mdb_engine import MongoDBEngine, ScopedDatabase


def test_runtime_names_are_the_engine_names() -> None:
    from mdb_runtime import RuntimeEngine
    from mdb_runtime.database import AppDB

    assert RuntimeEngine is MongoDBEngine
    assert AppDB is ScopedDatabase


def test_runtime_realtime_and_auth_names() -> None:
    import mdb_engine
    from mdb_runtime.auth import get_app_sub_user
    from mdb_runtime.routing import broadcast_to_app, register_message_handler

    assert broadcast_to_app is mdb_engine.broadcast_to_app
    assert register_message_handler is mdb_engine.register_message_handler
    assert get_app_sub_user is mdb_engine.auth.get_app_sub_user
    assert callable(MongoDBEngine.register_websocket_routes)
