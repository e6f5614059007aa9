"""Scoring guesses: cosine similarity between a text's embedding and the target vector."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Guess", "Scorer"]

Embed = Callable[[Sequence[str]], Awaitable[list[list[float]]]]

BATCH_SIZE = 256  # texts per call to the embedding service: a cancelled attack stops between


@dataclass(frozen=True, order=True)
class Guess:
    """A candidate text and how close its embedding is to the target (cosine, 1 = same)."""

    similarity: float
    text: str


class Scorer:
    """Knows only the target *vector* and how to embed texts: what an attacker holds."""

    def __init__(self, target_vector: Sequence[float], embed: Embed) -> None:
        target = np.asarray(target_vector, dtype=np.float64)
        norm = float(np.linalg.norm(target))
        if norm == 0.0:
            raise ValueError("the target vector is all zeros: nothing to invert")
        self._target = target / norm
        self._embed = embed
        self.embedded_count = 0

    async def score(self, texts: Sequence[str]) -> list[Guess]:
        """One Guess per text, in order (embedded in batches by the app's service)."""
        guesses: list[Guess] = []
        for start in range(0, len(texts), BATCH_SIZE):
            batch = list(texts[start : start + BATCH_SIZE])
            vectors = np.asarray(await self._embed(batch), dtype=np.float64)
            norms = np.linalg.norm(vectors, axis=1)
            norms[norms == 0.0] = 1.0  # a zero vector scores 0 instead of dividing by zero
            similarities = (vectors @ self._target) / norms
            guesses.extend(Guess(float(s), t) for s, t in zip(similarities, batch, strict=True))
            self.embedded_count += len(batch)
        return guesses
