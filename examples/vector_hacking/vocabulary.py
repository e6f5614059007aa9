"""The word list the attacks build their guesses from (``words.txt``, most frequent first)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["VOCABULARY", "common_words"]

_WORDS_FILE = Path(__file__).resolve().parent / "words.txt"

VOCABULARY: tuple[str, ...] = tuple(
    word for word in _WORDS_FILE.read_text(encoding="utf-8").split() if word
)


def common_words(size: int) -> tuple[str, ...]:
    """The ``size`` most frequent words of the list."""
    return VOCABULARY[:size]
