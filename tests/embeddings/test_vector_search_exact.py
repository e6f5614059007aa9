"""The exact search (numpy and in-database) agrees with brute force and stays in the app."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from bson import ObjectId
from pymongo import MongoClient

from mdb_engine import MongoDBEngine, ScopedCollection
from mdb_engine.embeddings import _exact_scoring, exact_search_numpy, vector_search
from mdb_engine.errors import ConfigurationError
from mdb_engine.testing import CommandLog

DIMENSIONS = 16
COUNT = 300
METHODS = ("numpy", "database")


def manifest(slug: str) -> dict[str, Any]:
    return {"schema_version": "2.0", "slug": slug, "name": slug.title()}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20260101)


@pytest.fixture
async def alpha(engine: MongoDBEngine) -> ScopedCollection:
    await engine.register_app(manifest("alpha"))
    await engine.register_app(manifest("beta"))
    return engine.get_scoped_db("alpha").get_collection("vectors")


@pytest.fixture
async def stored(alpha: ScopedCollection, rng: np.random.Generator) -> list[dict[str, Any]]:
    """COUNT documents of app alpha with random vectors (not normalized), and their data."""
    vectors = rng.standard_normal((COUNT, DIMENSIONS)) * rng.uniform(0.1, 5.0, (COUNT, 1))
    documents = [
        {"n": number, "kind": "a" if number % 3 else "b", "embedding": vector.tolist()}
        for number, vector in enumerate(vectors)
    ]
    await alpha.insert_many(documents)
    return documents


def brute_force(
    documents: list[dict[str, Any]], query: np.ndarray, k: int, keep: Any = None
) -> list[tuple[Any, float]]:
    """(_id, cosine) of the best k documents, computed with plain numpy."""
    chosen = [document for document in documents if keep is None or keep(document)]
    matrix = np.array([document["embedding"] for document in chosen])
    scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    order = np.argsort(-scores, kind="stable")[:k]
    return [(chosen[row]["_id"], float(scores[row])) for row in order]


def ids_and_scores(results: list[dict[str, Any]]) -> list[tuple[Any, float]]:
    return [(result["_id"], result["score"]) for result in results]


def assert_same_ranking(actual: list[tuple[Any, float]], expected: list[tuple[Any, float]]) -> None:
    assert [identifier for identifier, _ in actual] == [identifier for identifier, _ in expected]
    assert [score for _, score in actual] == pytest.approx(
        [score for _, score in expected], abs=1e-9
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("filter", "keep"),
    [
        (None, None),
        ({"kind": "b"}, lambda document: document["kind"] == "b"),
        (
            {"$or": [{"n": {"$lt": 40}}, {"kind": "b"}]},
            lambda document: document["n"] < 40 or document["kind"] == "b",
        ),
    ],
    ids=["no filter", "equality", "or"],
)
@pytest.mark.parametrize("k", [1, 7, 1000], ids=["k=1", "k=7", "k>n"])
async def test_exact_search_agrees_with_brute_force(
    alpha: ScopedCollection,
    stored: list[dict[str, Any]],
    rng: np.random.Generator,
    method: str,
    filter: Mapping[str, Any] | None,
    keep: Any,
    k: int,
) -> None:
    query = rng.standard_normal(DIMENSIONS)
    results = await vector_search(alpha, query.tolist(), k, filter, method=method)  # type: ignore[arg-type]
    expected = brute_force(stored, query, k, keep)
    assert_same_ranking(ids_and_scores(results), expected)
    assert len(results) == min(k, len(expected))


@pytest.mark.parametrize("batch_size", [1, 7, 5000])
async def test_numpy_batches_do_not_change_the_result(
    alpha: ScopedCollection,
    stored: list[dict[str, Any]],
    rng: np.random.Generator,
    batch_size: int,
) -> None:
    query = rng.standard_normal(DIMENSIONS)
    results = await exact_search_numpy(
        alpha, query / np.linalg.norm(query), 25, batch_size=batch_size
    )
    assert_same_ranking(ids_and_scores(results), brute_force(stored, query, 25))


async def test_both_methods_return_the_same_documents_without_the_vector(
    alpha: ScopedCollection, stored: list[dict[str, Any]], rng: np.random.Generator
) -> None:
    query = rng.standard_normal(DIMENSIONS).tolist()
    by_numpy = await vector_search(alpha, query, 5, method="numpy")
    by_database = await vector_search(alpha, query, 5, method="database")
    assert [set(result) for result in by_numpy] == [set(result) for result in by_database]
    assert set(by_numpy[0]) == {"_id", "n", "kind", "app_id", "score"}
    for one, other in zip(by_numpy, by_database, strict=True):
        assert one == {**other, "score": pytest.approx(other["score"], abs=1e-12)}
    assert by_numpy[0]["score"] <= 1.0
    assert by_numpy == sorted(by_numpy, key=lambda result: -result["score"])


@pytest.mark.parametrize("method", METHODS)
async def test_documents_without_a_usable_vector_are_left_out(
    alpha: ScopedCollection, method: str
) -> None:
    query = [1.0] + [0.0] * (DIMENSIONS - 1)
    await alpha.insert_many(
        [
            {"_id": "floats", "embedding": [0.5] * DIMENSIONS},
            {"_id": "integers", "embedding": [1] + [0] * (DIMENSIONS - 1)},
            {"_id": "zero", "embedding": [0.0] * DIMENSIONS},
            {"_id": "shorter", "embedding": [1.0] * (DIMENSIONS - 1)},
            {"_id": "missing"},
            {"_id": "not an array", "embedding": "text"},
            {"_id": "nan", "embedding": [math.nan] * DIMENSIONS},
            {"_id": {"compound": 1}, "embedding": [-1.0] + [0.0] * (DIMENSIONS - 1)},
        ]
    )
    results = await vector_search(alpha, query, 10, method=method)  # type: ignore[arg-type]
    assert [(result["_id"], round(result["score"], 9)) for result in results] == [
        ("integers", 1.0),
        ("floats", 0.25),
        ("zero", 0.0),
        ({"compound": 1}, -1.0),
    ]


@pytest.mark.parametrize("method", METHODS)
async def test_another_app_s_vectors_are_never_returned(
    engine: MongoDBEngine,
    alpha: ScopedCollection,
    stored: list[dict[str, Any]],
    rng: np.random.Generator,
    command_log: CommandLog,
    method: str,
) -> None:
    query = rng.standard_normal(DIMENSIONS)
    beta = engine.get_scoped_db("beta").get_collection("vectors")
    # App beta holds the query itself, many times: the best match anywhere in the database.
    await beta.insert_many([{"n": -1, "embedding": query.tolist()} for _ in range(20)])
    command_log.clear()
    results = await vector_search(alpha, query.tolist(), 10, method=method)  # type: ignore[arg-type]
    assert all(result["app_id"] == "alpha" and result["n"] >= 0 for result in results)
    assert_same_ranking(ids_and_scores(results), brute_force(stored, query, 10))
    # What went over the wire names app alpha's collection and constrains app_id to alpha.
    sent = command_log.named("find", "aggregate")
    assert sent
    for record in sent:
        assert record.collection == "alpha_vectors"
        assert "'app_id': 'alpha'" in repr(record.command)
        assert "beta" not in repr(record.command)
    beta_results = await vector_search(beta, query.tolist(), 3, method=method)  # type: ignore[arg-type]
    assert [result["score"] for result in beta_results] == pytest.approx([1.0, 1.0, 1.0])


async def test_a_missing_collection_gives_no_results(alpha: ScopedCollection) -> None:
    for method in METHODS:
        assert await vector_search(alpha, [1.0, 2.0], 3, method=method) == []  # type: ignore[arg-type]


async def test_a_document_deleted_between_scoring_and_fetching_is_left_out(
    alpha: ScopedCollection,
    mongodb_uri: str,
    mongodb_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await alpha.insert_many(
        [{"_id": number, "embedding": [1.0, float(number)]} for number in range(3)]
    )
    original = _exact_scoring.score_batch

    def score_then_delete(*args: Any) -> Any:
        scored = original(*args)
        # Runs in the worker thread: a synchronous client is fine there.
        client: MongoClient[dict[str, Any]]
        with MongoClient(mongodb_uri) as client:
            client[mongodb_database]["alpha_vectors"].delete_one({"_id": 1})
        return scored

    monkeypatch.setattr(_exact_scoring, "score_batch", score_then_delete)
    results = await exact_search_numpy(alpha, [1.0, 0.0], 3)
    assert [result["_id"] for result in results] == [0, 2]


async def test_queries_are_checked(alpha: ScopedCollection) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        await vector_search(alpha, [1.0], 0)
    with pytest.raises(ValueError, match="positive integer"):
        await vector_search(alpha, [1.0], True)
    with pytest.raises(ValueError, match="all zeros"):
        await vector_search(alpha, [0.0, 0.0], 1)
    with pytest.raises(ValueError, match="finite"):
        await vector_search(alpha, [], 1)
    with pytest.raises(ValueError, match="finite"):
        await vector_search(alpha, [math.inf, 1.0], 1)
    with pytest.raises(ValueError, match="sequence of numbers"):
        await vector_search(alpha, ["a", "b"], 1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown search method"):
        await vector_search(alpha, [1.0], 1, method="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="text query needs service"):
        await vector_search(alpha, "a text", 1)
    with pytest.raises(ConfigurationError, match="needs a vector index"):
        await vector_search(alpha, [1.0], 1, method="vector_search")


async def test_object_ids_and_other_fields_survive(alpha: ScopedCollection) -> None:
    identifier = ObjectId()
    await alpha.insert_one({"_id": identifier, "embedding": [3.0, 4.0], "tags": ["x"]})
    [result] = await vector_search(alpha, [3.0, 4.0], 5)
    assert result == {
        "_id": identifier,
        "tags": ["x"],
        "app_id": "alpha",
        "score": pytest.approx(1.0),
    }
