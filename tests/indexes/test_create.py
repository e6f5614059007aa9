"""Declared indexes exist after registration, with the declared options."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine

RawClient = AsyncMongoClient[dict[str, Any]]


async def test_declared_indexes_are_created(
    engine: MongoDBEngine,
    mongo_client: RawClient,
    mongodb_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    manifest = {
        "schema_version": "2.0",
        "slug": "idx_app",
        "name": "Indexes",
        "managed_indexes": {
            "tasks": [
                {"type": "regular", "keys": {"status": 1, "created_at": -1}, "name": "status_sort"},
                {"keys": {"email": 1}, "name": "email_unique", "unique": True},
                {"type": "ttl", "keys": {"expires": 1}, "expireAfterSeconds": 60, "name": "ttl"},
                {"type": "text", "keys": {"body": "text"}, "name": "body_text"},
            ],
            "places": [{"type": "geospatial", "keys": {"loc": "2dsphere"}, "name": "geo"}],
            "docs": [
                {
                    "type": "vectorSearch",
                    "name": "vec",
                    "definition": {
                        "fields": [
                            {
                                "type": "vector",
                                "path": "e",
                                "numDimensions": 3,
                                "similarity": "cosine",
                            }
                        ]
                    },
                }
            ],
        },
    }
    with caplog.at_level(logging.WARNING, logger="mdb_engine"):
        await engine.register_app(manifest)
    raw = mongo_client[mongodb_database]
    tasks = await raw["idx_app_tasks"].index_information()
    assert tasks["status_sort"]["key"] == [("status", 1), ("created_at", -1)]
    assert tasks["email_unique"]["unique"] is True
    assert tasks["ttl"]["expireAfterSeconds"] == 60
    assert tasks["body_text"]["key"] == [("_fts", "text"), ("_ftsx", 1)]
    places = await raw["idx_app_places"].index_information()
    assert places["geo"]["key"] == [("loc", "2dsphere")]
    assert "idx_app_docs" not in await raw.list_collection_names()
    assert any("search indexes" in r.getMessage() for r in caplog.records)


async def test_create_indexes_false_creates_none(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str
) -> None:
    manifest = {
        "slug": "no_idx",
        "name": "No indexes",
        "schema_version": "2.0",
        "managed_indexes": {"tasks": [{"keys": {"priority": -1}, "name": "priority_idx"}]},
    }
    await engine.register_app(manifest, create_indexes=False)
    assert "no_idx_tasks" not in await mongo_client[mongodb_database].list_collection_names()
