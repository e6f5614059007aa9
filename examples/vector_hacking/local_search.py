"""The "local" strategy: greedy coordinate search over a word list, no LLM.

Step 0 embeds every word of the vocabulary alone and keeps the closest one as the first guess;
the closest ``SHORTLIST_SIZE`` words become the pool of edits. Each later step tries every
single edit of the best guess (insert a pool word anywhere, replace any word with one, delete
a word) and keeps the best candidate. It stops when no edit gets closer: a local optimum.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

from .scoring import Guess, Scorer

__all__ = ["MAX_WORDS", "SHORTLIST_SIZE", "local_attack", "single_edits"]

SHORTLIST_SIZE = 40
MAX_WORDS = 12  # a guess never grows past this many words


def single_edits(
    words: Sequence[str], pool: Sequence[str], max_words: int = MAX_WORDS
) -> list[tuple[str, ...]]:
    """Every guess one edit away from ``words``, without duplicates, in a stable order."""
    current = tuple(words)
    found: dict[tuple[str, ...], None] = {}
    if len(current) < max_words:
        for position in range(len(current) + 1):
            for word in pool:
                found[(*current[:position], word, *current[position:])] = None
    for position in range(len(current)):
        for word in pool:
            found[(*current[:position], word, *current[position + 1 :])] = None
        if len(current) > 1:
            found[current[:position] + current[position + 1 :]] = None
    found.pop(current, None)
    return list(found)


async def local_attack(
    scorer: Scorer, vocabulary: Sequence[str], max_steps: int
) -> AsyncGenerator[Guess, None]:
    """The best guess after step 0 (the closest word), then after each step that improved it."""
    by_word = await scorer.score(vocabulary)
    ranked = sorted(by_word, reverse=True)
    pool = [guess.text for guess in ranked[:SHORTLIST_SIZE]]
    best = ranked[0]
    yield best
    for _ in range(max_steps):
        candidates = [" ".join(words) for words in single_edits(best.text.split(), pool)]
        challenger = max(await scorer.score(candidates), default=best)
        if challenger.similarity <= best.similarity:
            return  # no single edit gets closer: converged
        best = challenger
        yield best
