"""Reading vectors out of raw BSON, and the Atlas helpers: pure functions."""

from __future__ import annotations

import math

import bson
import numpy as np
import pytest
from bson import Int64, ObjectId

from mdb_engine.embeddings.atlas import (
    VectorIndex,
    cosine_from_vector_search_score,
    default_num_candidates,
    vector_search_pipeline,
)
from mdb_engine.embeddings.exact import exact_search_pipeline
from mdb_engine.embeddings.raw_vectors import array_layout, read_vectors


@pytest.mark.parametrize("dimensions", [1, 3, 10, 11, 100, 384, 1536])
def test_the_layout_matches_what_bson_encodes(dimensions: int) -> None:
    encoded = bson.encode({str(index): 0.5 for index in range(dimensions)})
    layout = array_layout(dimensions)
    assert layout.size == len(encoded)
    assert all(encoded[offset] == 0x01 for offset in layout.type_offsets)
    assert sum(count for _, count, _, _ in layout.groups) == dimensions


@pytest.mark.parametrize("dimensions", [3, 10, 384, 1536])
def test_vectors_are_read_exactly(dimensions: int) -> None:
    vectors = np.random.default_rng(dimensions).standard_normal((20, dimensions))
    documents = [
        bson.encode({"_id": bson.ObjectId(), "x": "y", "embedding": vector.tolist(), "z": {}})
        for vector in vectors
    ]
    batch = read_vectors(documents, "embedding", dimensions)
    assert len(batch.ids) == 20
    assert np.array_equal(batch.vectors, vectors)


def test_other_documents_are_decoded_or_left_out() -> None:
    documents = [
        bson.encode({"_id": 1, "embedding": [1.0, 2.0, 3.0]}),
        bson.encode({"_id": 2, "embedding": [1, 2, 3]}),  # integers: decoded the slow way
        bson.encode({"_id": 3, "embedding": [1.0, 2.0]}),  # another length
        bson.encode({"_id": 4, "embedding": [1.0, 2.0, True]}),  # a boolean is no number
        bson.encode({"_id": 5, "embedding": [1.0, 2.0, math.inf]}),  # kept: scoring drops it
        bson.encode({"_id": 6}),
        bson.encode({"_id": 7, "embedding": "text"}),
        bson.encode({"_id": {"a": [1]}, "embedding": [0.0, 0.0, 1.0]}),
        bson.encode({"_id": 9, "embedding": bson.Binary(b"\x00" * 12)}),
    ]
    batch = read_vectors(documents, "embedding", 3)
    assert batch.ids == [1, 5, {"a": [1]}, 2]
    assert batch.vectors.tolist() == [
        [1.0, 2.0, 3.0],
        [1.0, 2.0, math.inf],
        [0.0, 0.0, 1.0],
        [1.0, 2.0, 3.0],
    ]


def test_nested_paths_are_read() -> None:
    documents = [bson.encode({"_id": 1, "data": {"vector": [0.5, 0.25]}})]
    batch = read_vectors(documents, "data.vector", 2)
    assert batch.ids == [1]
    assert batch.vectors.tolist() == [[0.5, 0.25]]


def test_no_documents_give_an_empty_matrix() -> None:
    batch = read_vectors([], "embedding", 4)
    assert batch.ids == []
    assert batch.vectors.shape == (0, 4)


@pytest.mark.parametrize(
    ("similarity", "cosine"),
    [("cosine", 0.6), ("cosine", -1.0), ("dotProduct", 0.2), ("euclidean", 0.6)],
)
def test_atlas_scores_turn_back_into_cosine_similarities(similarity: str, cosine: float) -> None:
    if similarity == "euclidean":
        squared_distance = 2 - 2 * cosine  # unit vectors
        score = 1 / (1 + squared_distance)
    else:
        score = (1 + cosine) / 2
    assert cosine_from_vector_search_score(score, similarity) == pytest.approx(cosine)  # type: ignore[arg-type]


def test_candidates_follow_atlas_advice_within_its_limits() -> None:
    assert default_num_candidates(1) == 100
    assert default_num_candidates(10) == 200
    assert default_num_candidates(600) == 10_000


def test_the_vector_search_pipeline_reads_the_score_and_drops_the_vector() -> None:
    index = VectorIndex("idx", "embedding")
    assert vector_search_pipeline(
        index, [1.0, 0.0], 3, {"lang": "en"}, num_candidates=60, score_field="score"
    ) == [
        {
            "$vectorSearch": {
                "index": "idx",
                "path": "embedding",
                "queryVector": [1.0, 0.0],
                "numCandidates": 60,
                "limit": 3,
                "filter": {"lang": "en"},
            }
        },
        {"$set": {"score": {"$meta": "vectorSearchScore"}}},
        {"$project": {"embedding": 0}},
    ]


def test_the_exact_pipeline_only_scores_vectors_of_the_query_s_length() -> None:
    pipeline = exact_search_pipeline([1.0, 0.0], 4, {"a": 1}, path="v", score_field="s")
    assert pipeline[0] == {"$match": {"$and": [{"a": 1}, {"v": {"$size": 2}}]}}
    assert pipeline[-2:] == [{"$sort": {"s": -1, "_id": 1}}, {"$limit": 4}]
    assert {"$project": {"v": 0}} in pipeline


def test_projected_documents_are_read_at_once_and_odd_ones_one_by_one() -> None:
    ids = [ObjectId() for _ in range(5)]
    vectors = np.random.default_rng(5).standard_normal((3, 12))
    documents = [
        bson.encode({"_id": identifier, "embedding": vector.tolist()})
        for identifier, vector in zip(ids, vectors, strict=False)
    ]
    # The same length as the others, but not the expected shape:
    documents.append(bson.encode({"_id": ids[3], "embedding": [1.0] * 11 + [Int64(2)]}))
    documents.append(bson.encode({"_id": ids[4], "embeddinX": [1.0] * 12}))
    assert len({len(document) for document in documents}) == 1
    batch = read_vectors([memoryview(document) for document in documents], "embedding", 12)
    assert batch.ids == ids[:4]
    assert np.array_equal(batch.vectors[:3], vectors)
    assert batch.vectors[3].tolist() == [1.0] * 11 + [2.0]
