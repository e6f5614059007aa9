"""numpy scoring for the exact search: cosine per batch, and the best ``k`` across batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mdb_engine.embeddings.raw_vectors import read_vectors

__all__ = ["Ranking", "score_batch"]

Scores = npt.NDArray[np.float64]


def score_batch(
    documents: Sequence[Any], path: str, query_vector: Sequence[float], k: int
) -> tuple[list[Any], Scores]:
    """The ``_id`` and cosine similarity of the best ``k`` raw documents of one batch."""
    batch = read_vectors((document.raw for document in documents), path, len(query_vector))
    if not batch.ids:
        return [], np.empty(0)
    query = np.asarray(query_vector, dtype=np.float64)
    norms = np.linalg.norm(batch.vectors, axis=1)
    dots = batch.vectors @ query
    # A zero vector scores 0; one holding NaN or infinity scores NaN and is left out.
    with np.errstate(invalid="ignore"):
        scores = np.divide(dots, norms, out=np.zeros_like(dots), where=norms != 0)
    keep = np.flatnonzero(np.isfinite(scores))
    if len(keep) > k:
        keep = keep[np.argpartition(-scores[keep], k - 1)[:k]]
        keep.sort()  # back to arrival order, so that ties keep it
    return [batch.ids[row] for row in keep], scores[keep]


class Ranking:
    """The best ``k`` (id, score) pairs seen so far; ties go to the one seen first."""

    def __init__(self, k: int) -> None:
        self._k = k
        self._ids: list[Any] = []
        self._scores: Scores = np.empty(0)

    def add(self, ids: list[Any], scores: Scores) -> None:
        """Merge the candidates of one more batch."""
        if not ids:
            return
        self._ids = self._ids + ids
        self._scores = np.concatenate([self._scores, scores])
        if len(self._ids) > self._k:
            keep = self._order()[: self._k]
            keep.sort()
            self._ids = [self._ids[row] for row in keep]
            self._scores = self._scores[keep]

    def best(self) -> tuple[list[Any], list[float]]:
        """The ids and scores, best first."""
        order = self._order()
        return [self._ids[row] for row in order], [float(self._scores[row]) for row in order]

    def _order(self) -> npt.NDArray[np.intp]:
        # Stable sort on the negated scores: equal scores keep their arrival order.
        return np.argsort(-self._scores, kind="stable")
