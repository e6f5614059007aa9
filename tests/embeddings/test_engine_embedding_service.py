"""engine.get_embedding_service(slug): the manifest's embedding_config, applied per app."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mdb_engine import MongoDBEngine
from mdb_engine.embeddings import LocalEmbeddingProvider
from mdb_engine.errors import AppNotRegistered, ConfigurationError


def manifest(slug: str, **fields: Any) -> dict[str, Any]:
    return {"schema_version": "2.0", "slug": slug, "name": slug.title(), **fields}


async def test_each_app_stores_and_finds_its_own_chunks(
    engine: MongoDBEngine, local_model: LocalEmbeddingProvider
) -> None:
    config = {"collection": "passages", "max_tokens_per_chunk": 64, "chunk_overlap": 8}
    await engine.register_app(manifest("docs", embedding_config=config))
    await engine.register_app(manifest("notes", embedding_config=config))
    docs = await engine.get_embedding_service("docs")
    notes = await engine.get_embedding_service("notes")
    assert await engine.get_embedding_service("docs") is docs
    assert docs is not notes
    await docs.process_and_store("MongoDB stores documents in collections.", "guide")
    await notes.process_and_store("Cats sleep most of the day.", "diary")

    found = await docs.search("Where does MongoDB keep documents?", k=5)
    assert [hit["source_id"] for hit in found] == ["guide"]
    assert all(hit["app_id"] == "docs" for hit in found)
    assert "embedding" not in found[0]
    assert [hit["source_id"] for hit in await notes.search("MongoDB documents", k=5)] == ["diary"]
    stored = await engine.get_scoped_db("docs").passages.count_documents({})
    assert stored == 1


async def test_embedding_config_no_longer_warns_as_not_applied(
    engine: MongoDBEngine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mdb_engine.core.engine"):
        await engine.register_app(manifest("docs", embedding_config={}))
    assert "not applied" not in caplog.text


async def test_unknown_and_disabled_apps_are_refused(engine: MongoDBEngine) -> None:
    with pytest.raises(AppNotRegistered):
        await engine.get_embedding_service("nobody")
    await engine.register_app(manifest("off", embedding_config={"enabled": False}))
    with pytest.raises(ConfigurationError):
        await engine.get_embedding_service("off")
