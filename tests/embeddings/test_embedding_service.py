"""EmbeddingService with the real local model: split, embed, store in a scoped collection."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mdb_engine import MongoDBEngine, ScopedCollection
from mdb_engine.core.manifest import EmbeddingConfig
from mdb_engine.embeddings import (
    EmbeddingService,
    LocalEmbeddingProvider,
    TokenSplitter,
    build_service,
)
from mdb_engine.errors import ConfigurationError, EmbeddingError, ScopeViolation
from mdb_engine.testing import CommandLog

ARTICLE = "\n\n".join(
    [
        "Cats are small domesticated carnivores. They sleep a lot and purr when content. "
        "A cat grooms itself with its rough tongue.",
        "The stock market is where shares of public companies are traded. Prices rise and fall "
        "with supply and demand, and investors watch interest rates closely.",
        "Football is played by two teams of eleven players. The goal is to kick the ball into "
        "the opposing net; a match lasts ninety minutes.",
    ]
)


@pytest.fixture
async def service(engine: MongoDBEngine, local_model: LocalEmbeddingProvider) -> EmbeddingService:
    await engine.register_app({"schema_version": "2.0", "slug": "notes", "name": "Notes"})
    await engine.register_app({"schema_version": "2.0", "slug": "other", "name": "Other"})
    config = EmbeddingConfig(max_tokens_per_chunk=40, chunk_overlap=0, collection="chunks")
    return build_service(config, database=engine.get_scoped_db("notes"))


@pytest.fixture
def chunks(engine: MongoDBEngine) -> ScopedCollection:
    return engine.get_scoped_db("notes").get_collection("chunks")


async def test_process_and_store_writes_tagged_chunks_with_embeddings(
    service: EmbeddingService, engine: MongoDBEngine, command_log: CommandLog
) -> None:
    command_log.clear()
    stored = await service.process_and_store(ARTICLE, "article-1", metadata={"lang": "en"})
    assert stored.chunk_count >= 3
    assert stored.deleted_count == 0
    [insert] = command_log.named("insert")
    assert insert.collection == "notes_chunks"
    assert {document["app_id"] for document in insert.command["documents"]} == {"notes"}
    documents = await service.collection().find({}, sort=[("chunk_index", 1)]).to_list()
    assert [document["_id"] for document in documents] == list(stored.inserted_ids)
    assert [document["chunk_index"] for document in documents] == list(range(stored.chunk_count))
    for document in documents:
        assert set(document) == {
            "_id",
            "app_id",
            "source_id",
            "chunk_index",
            "text",
            "embedding",
            "metadata",
        }
        assert document["app_id"] == "notes"
        assert document["source_id"] == "article-1"
        assert document["metadata"] == {"lang": "en"}
        assert len(document["embedding"]) == 384
        assert np.linalg.norm(document["embedding"]) == pytest.approx(1.0, abs=1e-5)
    assert "".join(document["text"] for document in documents).replace(" ", "") == (
        ARTICLE.replace(" ", "").replace("\n", "")
    )
    expected = await service.embed([documents[0]["text"]])
    np.testing.assert_allclose(documents[0]["embedding"], expected[0], atol=1e-6)


async def test_storing_a_source_again_replaces_its_chunks(service: EmbeddingService) -> None:
    first = await service.process_and_store(ARTICLE, "doc")
    await service.process_and_store("Something else entirely.", "other-doc")
    second = await service.process_and_store("A much shorter text about cats.", "doc")
    assert second.deleted_count == first.chunk_count
    assert second.chunk_count == 1
    remaining = await service.collection().find({"source_id": "doc"}).to_list()
    assert [document["text"] for document in remaining] == ["A much shorter text about cats."]
    assert await service.collection().count_documents({"source_id": "other-doc"}) == 1
    emptied = await service.process_and_store("   ", "doc")
    assert emptied.chunk_count == 0
    assert emptied.deleted_count == 1
    assert await service.collection().count_documents({"source_id": "doc"}) == 0


async def test_another_app_s_chunks_of_the_same_source_are_untouched(
    service: EmbeddingService, engine: MongoDBEngine
) -> None:
    other = engine.get_scoped_db("other").get_collection("chunks")
    await other.insert_one({"source_id": "doc", "text": "kept", "embedding": [1.0]})
    await service.process_and_store(ARTICLE, "doc")
    await service.process_and_store("", "doc")
    assert [document["text"] for document in await other.find({}).to_list()] == ["kept"]


async def test_search_finds_the_chunk_about_the_question(service: EmbeddingService) -> None:
    await service.process_and_store(ARTICLE, "article")
    [best, *_] = await service.search("Why does my kitten purr?", k=3)
    assert "Cats" in best["text"] or "cat" in best["text"]
    assert "embedding" not in best
    [market] = await service.search("interest rates and share prices", k=1, method="database")
    assert "stock market" in market["text"]
    football = await service.search(
        "a match between two teams", k=5, filter={"text": {"$regex": "ball"}}
    )
    assert football
    assert all("ball" in result["text"] for result in football)


async def test_collections_are_given_by_name_object_or_default(
    service: EmbeddingService, engine: MongoDBEngine
) -> None:
    await service.process_and_store("First text.", 1, "named")
    await service.process_and_store("Second text.", 2, engine.get_scoped_db("notes").named2)
    assert await engine.get_scoped_db("notes").named.count_documents({}) == 1
    assert await engine.get_scoped_db("notes").named2.count_documents({}) == 1
    assert service.default_collection == "chunks"
    with pytest.raises(ScopeViolation):
        await service.process_and_store("x", 3, "system.bad")


async def test_without_a_database_or_default_collection_the_error_says_what_to_pass(
    local_model: LocalEmbeddingProvider,
) -> None:
    splitter = TokenSplitter.from_tokenizer_file(local_model.tokenizer_file or "", 50)
    service = EmbeddingService(local_model, splitter)
    with pytest.raises(ConfigurationError, match="no collection given"):
        await service.process_and_store("text", "source")
    with pytest.raises(ConfigurationError, match="has no database"):
        await service.process_and_store("text", "source", "chunks")
    with pytest.raises(ValueError, match="source_id is required"):
        await service.process_and_store("text", None, "chunks")
    with pytest.raises(TypeError, match="embed_query"):
        await service.embed("one text")
    assert len(await service.embed_query("one text")) == 384
    assert service.dimensions == 384
    assert service.vector_index("chunks") is None


async def test_a_provider_returning_the_wrong_count_is_an_error(
    local_model: LocalEmbeddingProvider,
) -> None:
    class Broken:
        dimensions = 2

        async def embed(self, texts: Any) -> list[list[float]]:
            return [[1.0, 0.0]]

        async def aclose(self) -> None:
            pass

    splitter = TokenSplitter.from_tokenizer_file(local_model.tokenizer_file or "", 50)
    service = EmbeddingService(Broken(), splitter)
    with pytest.raises(EmbeddingError, match="returned 1 vectors for 2 texts"):
        await service.embed(["a", "b"])
    await service.aclose()
