"""``vector_search``: the ``k`` documents most similar to a text or a vector, on any server.

Where a vector index is declared (or named) and the server has Atlas Vector Search, the
query is a ``$vectorSearch`` whose ``filter`` carries the app's scope. Otherwise, or when the
server answers that it has no search (remembered per collection by the service), the search
is exact: cosine similarity over every matching document (see ``exact``). Every path returns
the same format: the stored document without its vector, plus ``score``, the cosine
similarity (1 is identical, 0 unrelated), best first.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pymongo.errors import OperationFailure

from mdb_engine.embeddings.atlas import (
    MAX_CANDIDATES,
    Similarity,
    VectorIndex,
    cosine_from_vector_search_score,
    default_num_candidates,
    vector_search_pipeline,
)
from mdb_engine.embeddings.exact import exact_search_database, exact_search_numpy
from mdb_engine.errors import ConfigurationError
from mdb_engine.indexes.search import SEARCH_UNSUPPORTED_CODES

if TYPE_CHECKING:
    from mdb_engine.database import ScopedCollection
    from mdb_engine.embeddings.service import EmbeddingService

__all__ = ["SearchMethod", "VectorSearchSupport", "normalized_query", "vector_search"]

logger = logging.getLogger(__name__)

SearchMethod = Literal["auto", "vector_search", "numpy", "database"]


class VectorSearchSupport:
    """The collections whose server answered that it has no ``$vectorSearch``.

    One per service (so per engine and app): the first refusal switches that collection to
    the exact search without asking the server again.
    """

    def __init__(self) -> None:
        self._unsupported: set[str] = set()

    def is_unsupported(self, collection: str) -> bool:
        """Whether the server refused ``$vectorSearch`` on ``collection``."""
        return collection in self._unsupported

    def mark_unsupported(self, collection: str) -> None:
        """Remember that the server refused ``$vectorSearch`` on ``collection``."""
        self._unsupported.add(collection)


async def vector_search(
    collection: ScopedCollection,
    query: str | Sequence[float],
    k: int,
    filter: Mapping[str, Any] | None = None,
    *,
    service: EmbeddingService | None = None,
    index_name: str | None = None,
    path: str = "embedding",
    method: SearchMethod = "auto",
    num_candidates: int | None = None,
    similarity: Similarity = "cosine",
    score_field: str = "score",
) -> list[dict[str, Any]]:
    """The ``k`` documents of ``collection`` most similar to ``query``, best first.

    ``query`` is a text (embedded by ``service``) or a vector. ``filter`` is an ordinary
    query filter, applied within the app's scope. ``method``: ``"auto"`` uses
    ``$vectorSearch`` when an index is known (``index_name``, or the service's manifest
    declares one on ``path``) and the server supports it, else the exact numpy search;
    ``"vector_search"``, ``"numpy"`` and ``"database"`` force one path. ``similarity`` is the
    named index's similarity (a declared index brings its own).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")
    if method not in ("auto", "vector_search", "numpy", "database"):
        raise ValueError(f"unknown search method {method!r}")
    vector = await _query_vector(query, service)
    index = _index(collection, path, service, index_name, similarity)
    support = service.search_support if service is not None else None
    if method == "vector_search" or (
        method == "auto"
        and index is not None
        and k <= MAX_CANDIDATES
        and not (support is not None and support.is_unsupported(collection.name))
    ):
        if index is None:
            raise ConfigurationError(
                f"$vectorSearch on {collection.name!r} needs a vector index: pass index_name= "
                f"or declare a 'vectorSearch' index on {path!r} in the manifest"
            )
        try:
            return await _atlas_search(
                collection, index, vector, k, filter, num_candidates, score_field
            )
        except OperationFailure as error:
            if method != "auto" or error.code not in SEARCH_UNSUPPORTED_CODES:
                raise
            logger.info(
                "collection %r: the server has no $vectorSearch (code %s); using the exact "
                "search from now on",
                collection.name,
                error.code,
            )
            if support is not None:
                support.mark_unsupported(collection.name)
    if method == "database":
        return await exact_search_database(
            collection, vector, k, filter, path=path, score_field=score_field
        )
    return await exact_search_numpy(
        collection, vector, k, filter, path=path, score_field=score_field
    )


async def _query_vector(
    query: str | Sequence[float], service: EmbeddingService | None
) -> list[float]:
    if isinstance(query, str):
        if service is None:
            raise ConfigurationError("a text query needs service= to embed it (or pass a vector)")
        values: Sequence[Any] = await service.embed_query(query)
    else:
        values = query
    return normalized_query(values)


def normalized_query(values: Sequence[Any]) -> list[float]:
    """The query vector scaled to length 1; refuses empty, non-finite and zero vectors."""
    try:
        vector = [float(value) for value in values]
    except (TypeError, ValueError) as error:
        raise ValueError("the query vector must be a sequence of numbers") from error
    if not vector or not all(math.isfinite(value) for value in vector):
        raise ValueError("the query vector must be a non-empty sequence of finite numbers")
    norm = math.sqrt(math.fsum(value * value for value in vector))
    if norm == 0:
        raise ValueError("the query vector is all zeros: it has no direction to compare")
    return [value / norm for value in vector]


def _index(
    collection: ScopedCollection,
    path: str,
    service: EmbeddingService | None,
    index_name: str | None,
    similarity: Similarity,
) -> VectorIndex | None:
    if index_name is not None:
        return VectorIndex(index_name, path, similarity)
    if service is not None:
        return service.vector_index(collection.name, path)
    return None


async def _atlas_search(
    collection: ScopedCollection,
    index: VectorIndex,
    vector: list[float],
    k: int,
    filter: Mapping[str, Any] | None,
    num_candidates: int | None,
    score_field: str,
) -> list[dict[str, Any]]:
    if k > MAX_CANDIDATES:
        raise ValueError(f"$vectorSearch returns at most {MAX_CANDIDATES} documents; k is {k}")
    candidates = num_candidates if num_candidates is not None else default_num_candidates(k)
    pipeline = vector_search_pipeline(
        index, vector, k, filter, num_candidates=max(candidates, k), score_field=score_field
    )
    cursor = await collection.aggregate(pipeline)
    documents: list[dict[str, Any]] = await cursor.to_list()
    for document in documents:
        document[score_field] = cosine_from_vector_search_score(
            float(document[score_field]), index.similarity
        )
    return documents
