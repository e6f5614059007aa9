"""Semantic search over the stored chunks: the question's vector against theirs."""

from __future__ import annotations

from typing import Any

from mdb_engine.embeddings import EmbeddingService

from .schemas import Passage

__all__ = ["retrieve"]


async def retrieve(embeddings: EmbeddingService, query: str, k: int) -> list[Passage]:
    """The ``k`` chunks closest in meaning to ``query``, best first.

    The service uses ``$vectorSearch`` where the manifest's vector index exists (Atlas) and
    the exact cosine search on any other MongoDB; both give the cosine similarity as ``score``.
    """
    found = await embeddings.search(query, k=k)
    return [_passage(chunk) for chunk in found]


def _passage(chunk: dict[str, Any]) -> Passage:
    """A stored chunk as the API returns it."""
    metadata = chunk.get("metadata") or {}
    return Passage(
        document_id=str(chunk["source_id"]),
        title=str(metadata.get("title", "")),
        chunk_index=int(chunk["chunk_index"]),
        text=chunk["text"],
        score=round(float(chunk["score"]), 4),
    )
