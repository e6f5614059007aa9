"""Atlas Vector Search: the declared vector indexes, the ``$vectorSearch`` pipeline, its scores.

Pure functions. The pipeline goes through a scoped collection, whose rewrite puts the app's
``app_id`` into ``$vectorSearch.filter`` (every vector index the engine creates declares
``app_id`` as a filter field). Atlas reports a score in [0, 1]; it is turned back into the
cosine similarity that the exact search reports, so both paths give the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mdb_engine.core.manifest import IndexSpec

__all__ = [
    "MAX_CANDIDATES",
    "Similarity",
    "VectorIndex",
    "cosine_from_vector_search_score",
    "declared_vector_indexes",
    "default_num_candidates",
    "vector_search_pipeline",
]

Similarity = Literal["cosine", "dotProduct", "euclidean"]
# Atlas limits numCandidates (and so limit) to 10,000.
MAX_CANDIDATES = 10_000


@dataclass(frozen=True)
class VectorIndex:
    """A vector index on one field: its name on the server, the field, the similarity."""

    name: str
    path: str
    similarity: Similarity = "cosine"
    dimensions: int | None = None


def declared_vector_indexes(
    managed_indexes: Mapping[str, Sequence[IndexSpec]],
) -> dict[str, tuple[VectorIndex, ...]]:
    """The vector fields of each collection's ``vectorSearch`` indexes in a manifest."""
    found: dict[str, tuple[VectorIndex, ...]] = {}
    for collection, specs in managed_indexes.items():
        indexes: list[VectorIndex] = []
        for spec in specs:
            if spec.type != "vectorSearch" or not spec.definition:
                continue
            for field in spec.definition.get("fields") or []:
                if not isinstance(field, Mapping) or field.get("type") != "vector":
                    continue
                similarity = field.get("similarity", "cosine")
                dimensions = field.get("numDimensions")
                indexes.append(
                    VectorIndex(
                        spec.resolved_name,
                        str(field.get("path")),
                        similarity if similarity in ("dotProduct", "euclidean") else "cosine",
                        dimensions if isinstance(dimensions, int) else None,
                    )
                )
        if indexes:
            found[collection] = tuple(indexes)
    return found


def default_num_candidates(k: int) -> int:
    """Candidates for a top-``k`` query: 20 per result (Atlas's advice), 100 to 10,000."""
    return min(max(20 * k, 100), MAX_CANDIDATES)


def vector_search_pipeline(
    index: VectorIndex,
    query_vector: Sequence[float],
    k: int,
    filter: Mapping[str, Any] | None,
    *,
    num_candidates: int,
    score_field: str,
) -> list[dict[str, Any]]:
    """``$vectorSearch`` (``filter`` still unscoped), then the score, then no vector field."""
    stage: dict[str, Any] = {
        "index": index.name,
        "path": index.path,
        "queryVector": list(query_vector),
        "numCandidates": num_candidates,
        "limit": k,
    }
    if filter:
        stage["filter"] = dict(filter)
    return [
        {"$vectorSearch": stage},
        {"$set": {score_field: {"$meta": "vectorSearchScore"}}},
        {"$project": {index.path: 0}},
    ]


def cosine_from_vector_search_score(score: float, similarity: Similarity) -> float:
    """The cosine similarity behind an Atlas ``vectorSearchScore``.

    Atlas maps cosine and dot product to ``(1 + value) / 2`` and euclidean distance ``d`` to
    ``1 / (1 + d²)``. For dot product and euclidean the result is the cosine only for unit
    vectors, which is what every provider here stores.
    """
    if similarity == "euclidean":
        squared_distance = 1.0 / score - 1.0 if score > 0 else 4.0
        return 1.0 - squared_distance / 2.0
    return 2.0 * score - 1.0
