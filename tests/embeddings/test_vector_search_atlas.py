"""The $vectorSearch path, against the Atlas stand-in; the fallback on a plain mongod."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from pymongo.errors import OperationFailure
from vector_standin import VectorSearchStandIn

from mdb_engine import MongoDBEngine
from mdb_engine.embeddings import (
    EmbeddingService,
    EngineEmbeddings,
    LocalEmbeddingProvider,
    vector_search,
)
from mdb_engine.testing import CommandLog

TEXTS = {
    "en": [
        "Cats purr when they are content and sleep most of the day.",
        "The central bank raised interest rates to fight inflation.",
        "The goalkeeper saved a penalty in the last minute of the match.",
        "Fresh bread is baked every morning at the corner bakery.",
    ],
    "fr": [
        "Les chats ronronnent quand ils sont contents.",
        "La banque centrale a relevé ses taux d'intérêt.",
    ],
}
VECTOR_INDEX = {
    "type": "vectorSearch",
    "name": "chunk_vectors",
    "definition": {
        "fields": [
            {"type": "vector", "path": "embedding", "numDimensions": 384, "similarity": "cosine"},
            {"type": "filter", "path": "metadata.lang"},
        ]
    },
}


def manifest(slug: str) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": slug,
        "name": slug.upper(),
        "embedding_config": {"collection": "chunks", "max_tokens_per_chunk": 60},
        "managed_indexes": {"chunks": [copy.deepcopy(VECTOR_INDEX)]},
    }


async def stored_service(engine: MongoDBEngine, slug: str) -> EmbeddingService:
    """App ``slug`` registered, with TEXTS stored through its embedding service."""
    parsed = await engine.register_app(manifest(slug))
    service = await EngineEmbeddings(engine.get_scoped_db).get(slug, parsed)
    for lang, texts in TEXTS.items():
        for number, text in enumerate(texts):
            await service.process_and_store(text, f"{lang}-{number}", metadata={"lang": lang})
    return service


@pytest.fixture
async def atlas(
    vector_standin: VectorSearchStandIn,
    mongodb_database: str,
    local_model: LocalEmbeddingProvider,
) -> AsyncIterator[tuple[MongoDBEngine, CommandLog]]:
    """An engine whose server has Atlas Vector Search (the stand-in)."""
    log = CommandLog()
    async with MongoDBEngine(vector_standin.uri, mongodb_database, event_listeners=[log]) as engine:
        yield engine, log


def ranking(results: list[dict[str, Any]]) -> list[tuple[Any, float]]:
    return [(result["source_id"], result["score"]) for result in results]


def assert_same(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [result["_id"] for result in actual] == [result["_id"] for result in expected]
    assert [result["score"] for result in actual] == pytest.approx(
        [result["score"] for result in expected], abs=1e-9
    )
    assert [set(result) for result in actual] == [set(result) for result in expected]


async def test_a_declared_index_is_searched_with_vector_search_in_the_app_s_scope(
    atlas: tuple[MongoDBEngine, CommandLog], vector_standin: VectorSearchStandIn
) -> None:
    engine, log = atlas
    service = await stored_service(engine, "rag")
    log.clear()
    results = await service.search("my cat is purring", k=3)
    [stage] = vector_standin.vector_searches
    assert stage["index"] == "chunk_vectors"
    assert stage["path"] == "embedding"
    assert stage["filter"] == {"app_id": "rag"}
    assert stage["limit"] == 3
    assert stage["numCandidates"] == 100
    [sent] = log.named("aggregate")
    assert sent.collection == "rag_chunks"
    assert not log.named("find")
    assert results[0]["source_id"] == "en-0"
    assert "embedding" not in results[0]
    exact = await service.search("my cat is purring", k=3, method="numpy")
    assert_same(results, exact)


async def test_a_filter_goes_into_vector_search_next_to_the_scope(
    atlas: tuple[MongoDBEngine, CommandLog], vector_standin: VectorSearchStandIn
) -> None:
    engine, _ = atlas
    service = await stored_service(engine, "rag")
    results = await service.search("interest rates", k=10, filter={"metadata.lang": "fr"})
    assert vector_standin.vector_searches[-1]["filter"] == {
        "$and": [{"metadata.lang": "fr"}, {"app_id": "rag"}]
    }
    assert sorted(result["source_id"] for result in results) == ["fr-0", "fr-1"]
    exact = await service.search(
        "interest rates", k=10, filter={"metadata.lang": "fr"}, method="database"
    )
    assert_same(results, exact)


async def test_another_app_s_vectors_are_never_returned(
    atlas: tuple[MongoDBEngine, CommandLog], vector_standin: VectorSearchStandIn
) -> None:
    engine, _ = atlas
    rag = await stored_service(engine, "rag")
    other = await stored_service(engine, "other")  # the same texts: the same vectors
    results = await rag.search("cats", k=50)
    assert len(results) == sum(len(texts) for texts in TEXTS.values())
    assert {result["app_id"] for result in results} == {"rag"}
    assert {result["app_id"] for result in await other.search("cats", k=50)} == {"other"}
    assert [stage["filter"] for stage in vector_standin.vector_searches] == [
        {"app_id": "rag"},
        {"app_id": "other"},
    ]


async def test_a_filter_on_a_field_the_index_does_not_declare_is_the_server_s_error(
    atlas: tuple[MongoDBEngine, CommandLog],
) -> None:
    engine, _ = atlas
    service = await stored_service(engine, "rag")
    with pytest.raises(OperationFailure, match="needs to be indexed as filter"):
        await service.search("cats", k=3, filter={"source_id": "en-0"})
    assert not service.search_support.is_unsupported("chunks")


async def test_an_index_can_be_named_without_a_service(
    atlas: tuple[MongoDBEngine, CommandLog], local_model: LocalEmbeddingProvider
) -> None:
    engine, _ = atlas
    await stored_service(engine, "rag")
    chunks = engine.get_scoped_db("rag").chunks
    [query] = await local_model.embed(["bread from the bakery"])
    found = await vector_search(chunks, query, 2, index_name="chunk_vectors")
    assert found[0]["source_id"] == "en-3"
    # Atlas answers a query on an index that does not exist with no documents.
    assert await vector_search(chunks, query, 2, index_name="missing") == []


@pytest.mark.parametrize("similarity", ["cosine", "dotProduct", "euclidean"])
async def test_scores_are_cosine_similarities_whatever_the_index_similarity(
    atlas: tuple[MongoDBEngine, CommandLog], similarity: str
) -> None:
    engine, _ = atlas
    definition = {
        "fields": [{"type": "vector", "path": "v", "numDimensions": 8, "similarity": similarity}]
    }
    await engine.register_app(
        {
            "schema_version": "2.0",
            "slug": "geo",
            "name": "Geo",
            "managed_indexes": {
                "points": [{"type": "vectorSearch", "name": "v", "definition": definition}]
            },
        }
    )
    points = engine.get_scoped_db("geo").points
    vectors = np.random.default_rng(7).standard_normal((40, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # unit vectors, as stored
    await points.insert_many([{"n": n, "v": vector.tolist()} for n, vector in enumerate(vectors)])
    query = vectors[0] + 0.3 * vectors[1]
    atlas_results = await vector_search(
        points,
        query.tolist(),
        5,
        path="v",
        index_name="v",
        similarity=similarity,  # type: ignore[arg-type]
        method="vector_search",
    )
    exact = await vector_search(points, query.tolist(), 5, path="v", method="numpy")
    assert_same(atlas_results, exact)


async def test_a_plain_mongod_falls_back_to_the_exact_search_once(
    engine: MongoDBEngine, command_log: CommandLog, local_model: LocalEmbeddingProvider
) -> None:
    service = await stored_service(engine, "rag")  # the vector index is not created here
    command_log.clear()
    first = await service.search("my cat is purring", k=3)
    assert [record.name for record in command_log.commands] == ["aggregate", "find", "find"]
    assert "$vectorSearch" in repr(command_log.commands[0].command)
    assert service.search_support.is_unsupported("chunks")
    command_log.clear()
    second = await service.search("my cat is purring", k=3)
    assert "$vectorSearch" not in repr(command_log.commands)
    assert_same(second, first)
    assert first[0]["source_id"] == "en-0"


async def test_forcing_vector_search_on_a_plain_mongod_raises_the_server_s_error(
    engine: MongoDBEngine, local_model: LocalEmbeddingProvider
) -> None:
    service = await stored_service(engine, "rag")
    with pytest.raises(OperationFailure) as caught:
        await service.search("cats", k=1, method="vector_search")
    assert caught.value.code == 40324
    assert not service.search_support.is_unsupported("chunks")


async def test_more_results_than_vector_search_allows_use_the_exact_search(
    atlas: tuple[MongoDBEngine, CommandLog], vector_standin: VectorSearchStandIn
) -> None:
    engine, _ = atlas
    service = await stored_service(engine, "rag")
    results = await service.search("cats", k=10_001)
    assert len(results) == 6
    assert not vector_standin.vector_searches
    with pytest.raises(ValueError, match="at most 10000"):
        await service.search("cats", k=10_001, method="vector_search")
