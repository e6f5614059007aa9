"""The "llm" strategy: an LLM reads the best guesses with their scores and writes new ones.

Step 0 scores every vocabulary word alone, so the LLM starts from the words closest to the
vector. Each step shows it the best guesses so far with their similarities and asks for
``CANDIDATES_PER_STEP`` new sentences, one per line; they are embedded and scored, and the
best guess is kept.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Sequence

from mdb_engine.llm import ChatModel, Message

from .scoring import Guess, Scorer

__all__ = ["CANDIDATES_PER_STEP", "build_prompt", "llm_attack", "parse_candidates"]

CANDIDATES_PER_STEP = 8
GUESSES_SHOWN = 10
MAX_CANDIDATE_CHARS = 300

_SYSTEM = (
    "You are helping with an embedding inversion experiment. A hidden text was turned into an "
    "embedding vector. You cannot see the text; you only learn the cosine similarity between "
    "the embedding of each guess and that vector (1.0 means the same meaning, 0 unrelated). "
    "Use the scores to move closer: keep what raised them, change what did not."
)
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(\d+\))\s*")


def build_prompt(guesses: Sequence[Guess], count: int = CANDIDATES_PER_STEP) -> list[Message]:
    """The chat messages for one step: the best ``guesses`` (best first) with their scores."""
    lines = "\n".join(f"{guess.similarity:.4f}  {guess.text}" for guess in guesses)
    request = (
        f"The best guesses so far (similarity, then text):\n{lines}\n\n"
        f"Write {count} new candidate texts that could be even closer to the hidden text. "
        "Answer with the candidates only, one per line, without numbering or comments."
    )
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": request}]


def parse_candidates(answer: str, limit: int = 2 * CANDIDATES_PER_STEP) -> list[str]:
    """The candidate texts of an answer: one per line, list markers and quotes removed."""
    found: dict[str, None] = {}
    for line in answer.splitlines():
        text = _LIST_MARKER.sub("", line).strip().strip("\"'“”").strip()
        if text and len(text) <= MAX_CANDIDATE_CHARS:
            found[text] = None
    return list(found)[:limit]


async def llm_attack(
    scorer: Scorer, vocabulary: Sequence[str], llm: ChatModel, max_steps: int
) -> AsyncGenerator[Guess, None]:
    """The best guess after step 0 (the closest word) and after each LLM step."""
    scored = {guess.text: guess for guess in await scorer.score(vocabulary)}
    best = max(scored.values())
    yield best
    for _ in range(max_steps):
        shown = sorted(scored.values(), reverse=True)[:GUESSES_SHOWN]
        answer = await llm.chat(build_prompt(shown), temperature=0.9)
        fresh = [text for text in parse_candidates(answer) if text not in scored]
        for guess in await scorer.score(fresh):
            scored[guess.text] = guess
            best = max(best, guess)
        yield best
