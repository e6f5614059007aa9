"""Both seeds' quick starts (examples/quickstart), as written, over HTTP on a real mongod."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bson import ObjectId
from fastapi.testclient import TestClient
from pymongo import MongoClient

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
RUNTIME_APP = QUICKSTART / "runtime"


def test_post_tasks_stores_a_tagged_document_in_the_physical_collection(
    seed_app: Callable[[Path], ModuleType], mongodb_uri: str, mongodb_database: str
) -> None:
    module = seed_app(QUICKSTART)
    with TestClient(module.app) as client:
        response = client.post("/tasks", json={"title": "write docs", "priority": 2})
        assert response.status_code == 200
        task_id = ObjectId(response.json()["id"])
        client.portal.call(module.engine.shutdown)  # type: ignore[union-attr]

    raw: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        database = raw[mongodb_database]
        stored = database["my_app_tasks"].find_one({"_id": task_id})
        assert stored == {"_id": task_id, "title": "write docs", "priority": 2, "app_id": "my_app"}
        assert "tasks" not in database.list_collection_names()
        indexes = database["my_app_tasks"].index_information()
        assert indexes["priority_idx"]["key"] == [("priority", -1)]
    finally:
        raw.close()


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
