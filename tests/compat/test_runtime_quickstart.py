"""The MDB_RUNTIME seed's quick start, as written (1.0 manifest, RuntimeEngine, AppDB)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bson import ObjectId
from fastapi.testclient import TestClient
from pymongo import MongoClient

from mdb_engine import MongoDBEngine, ScopedDatabase

RUNTIME_APP = Path(__file__).resolve().parent / "runtime_app"


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


def test_runtime_quickstart_over_http(
    seed_app: Callable[[Path], ModuleType],
    mongodb_uri: str,
    mongodb_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # auth_required: true needs a signing secret, as the MDB_ENGINE seed's quick start sets.
    monkeypatch.setenv("FLASK_SECRET_KEY", "a-test-secret-that-is-long-enough-0123456789")
    module = seed_app(RUNTIME_APP)
    client = TestClient(module.app)
    with pytest.warns(DeprecationWarning, match="1.0"):  # the 1.0 manifest is migrated
        client.__enter__()  # runs the seed's startup hook, which registers the manifest
    try:
        response = client.post("/tasks", json={"title": "legacy"})
        assert response.status_code == 200
        task_id = ObjectId(response.json()["id"])
        manifest = module.engine.get_manifest("task_manager")
        assert manifest.auth.policy.required is True
        client.portal.call(module.engine.shutdown)
    finally:
        client.__exit__(None, None, None)

    raw: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        stored = raw[mongodb_database]["task_manager_tasks"].find_one({"_id": task_id})
        assert stored == {"_id": task_id, "title": "legacy", "app_id": "task_manager"}
        indexes = raw[mongodb_database]["task_manager_tasks"].index_information()
        assert indexes["priority_idx"]["key"] == [("priority", -1)]
    finally:
        raw.close()
