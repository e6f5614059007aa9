"""Exact (brute-force) cosine search over a scoped collection, for servers without Atlas Search.

Two ways, with the same results and result format:

- ``exact_search_numpy`` streams ``_id`` and the vector of the matching documents in batches,
  scores each batch with numpy in a worker thread while the next one is fetched, keeps the
  best ``k``, then fetches those ``k`` documents. The default: on a local server it is several
  times faster than the database (see docs/embeddings.md).
- ``exact_search_database`` lets the server compute the cosine (``$map`` / ``$sum`` over the
  array) and send back only the best ``k``: less traffic, more server CPU; the better choice
  over a slow network (measured: below about 250–380 Mbit/s, see docs/embeddings.md).

Both read through the scoped collection, so the app's scope applies, and both skip documents
whose vector is missing or has another length than the query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bson.raw_bson import RawBSONDocument

from mdb_engine.embeddings._optional import require

if TYPE_CHECKING:
    from mdb_engine.database import ScopedCollection

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "exact_search_database",
    "exact_search_numpy",
    "exact_search_pipeline",
]

DEFAULT_BATCH_SIZE = 2000
_FEATURE = "exact vector search with numpy"


def _vector_filter(filter: Mapping[str, Any] | None, path: str, dimensions: int) -> dict[str, Any]:
    """``filter`` narrowed to documents whose ``path`` is an array of ``dimensions`` items."""
    has_vector = {path: {"$size": dimensions}}
    return {"$and": [dict(filter), has_vector]} if filter else has_vector


def exact_search_pipeline(
    query_vector: Sequence[float],
    k: int,
    filter: Mapping[str, Any] | None,
    *,
    path: str,
    score_field: str,
) -> list[dict[str, Any]]:
    """The aggregation that ranks by cosine similarity in the server (scope not yet added).

    ``query_vector`` must have length 1. Non-numeric arrays are refused by the server, as
    ``$multiply`` refuses them; a zero vector scores 0.
    """
    field = f"${path}"
    dot = {
        "$sum": {
            "$map": {
                "input": {"$range": [0, len(query_vector)]},
                "as": "i",
                "in": {
                    "$multiply": [
                        {"$arrayElemAt": [field, "$$i"]},
                        {"$arrayElemAt": [{"$literal": list(query_vector)}, "$$i"]},
                    ]
                },
            }
        }
    }
    squares = {"$map": {"input": field, "in": {"$multiply": ["$$this", "$$this"]}}}
    norm = {"$sqrt": {"$sum": squares}}
    score = {
        "$let": {
            "vars": {"dot": dot, "norm": norm},
            "in": {"$cond": [{"$eq": ["$$norm", 0]}, 0.0, {"$divide": ["$$dot", "$$norm"]}]},
        }
    }
    return [
        {"$match": _vector_filter(filter, path, len(query_vector))},
        {"$set": {score_field: score}},
        {"$project": {path: 0}},
        {"$match": {score_field: {"$gte": -2.0}}},  # leaves out NaN (vectors holding NaN)
        {"$sort": {score_field: -1, "_id": 1}},
        {"$limit": k},
    ]


async def exact_search_database(
    collection: ScopedCollection,
    query_vector: Sequence[float],
    k: int,
    filter: Mapping[str, Any] | None = None,
    *,
    path: str = "embedding",
    score_field: str = "score",
) -> list[dict[str, Any]]:
    """The ``k`` most similar documents, ranked by the server; ``query_vector`` has length 1."""
    pipeline = exact_search_pipeline(query_vector, k, filter, path=path, score_field=score_field)
    cursor = await collection.aggregate(pipeline)
    documents: list[dict[str, Any]] = await cursor.to_list()
    return documents


async def exact_search_numpy(
    collection: ScopedCollection,
    query_vector: Sequence[float],
    k: int,
    filter: Mapping[str, Any] | None = None,
    *,
    path: str = "embedding",
    score_field: str = "score",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[dict[str, Any]]:
    """The ``k`` most similar documents, ranked with numpy; ``query_vector`` has length 1."""
    require("numpy", _FEATURE)
    from mdb_engine.embeddings._exact_scoring import Ranking, score_batch

    raw_options = collection.codec_options.with_options(document_class=RawBSONDocument)
    raw = collection.with_options(codec_options=raw_options)
    match = _vector_filter(filter, path, len(query_vector))
    ranking = Ranking(k)
    pending: asyncio.Future[Any] | None = None
    cursor = raw.find(match, {path: 1}).batch_size(batch_size)
    try:
        while batch := await cursor.to_list(batch_size):
            if pending is not None:
                ranking.add(*(await pending))
            # Score this batch in a thread while the next one is read from the server.
            pending = asyncio.ensure_future(
                asyncio.to_thread(score_batch, batch, path, query_vector, k)
            )
        if pending is not None:
            ranking.add(*(await pending))
            pending = None
    finally:
        if pending is not None:
            await asyncio.wait([pending])
        await cursor.close()
    ids, scores = ranking.best()
    if not ids:
        return []
    found = await collection.find({"_id": {"$in": ids}}, {path: 0}).to_list()
    by_id = {_key(document["_id"]): document for document in found}
    results: list[dict[str, Any]] = []
    for identifier, score in zip(ids, scores, strict=True):
        document = by_id.get(_key(identifier))
        if document is not None:  # deleted since it was scored
            document[score_field] = score
            results.append(document)
    return results


def _key(value: Any) -> Hashable:
    return value if isinstance(value, Hashable) else repr(value)
