"""The MDB_ENGINE seed's FastAPI quick start, as written, over HTTP on a real mongod."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bson import ObjectId
from fastapi.testclient import TestClient
from pymongo import MongoClient

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


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
