"""Token-aware semantic text splitting, with the ``semantic-text-splitter`` library.

A chunk holds at most ``max_tokens`` tokens of the embedding model's own tokenizer (special
tokens not counted). The splitter cuts at the largest semantic unit that fits — sections,
paragraphs, sentences, then words — and neighbouring chunks share up to ``overlap`` tokens.
Tokenizers come from local files: a Hugging Face ``tokenizer.json`` (shipped with the local
model) or a tiktoken encoding compiled into the library, so splitting never needs the network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mdb_engine.embeddings._optional import require
from mdb_engine.errors import ConfigurationError

__all__ = ["FALLBACK_TIKTOKEN_MODEL", "TokenSplitter"]

# The cl100k_base encoding, used for models tiktoken does not know (Azure deployment names,
# other OpenAI-compatible servers): a close count for most modern tokenizers.
FALLBACK_TIKTOKEN_MODEL = "text-embedding-3-small"
_FEATURE = "token-aware text splitting"


class TokenSplitter:
    """Splits text into chunks of at most ``max_tokens`` tokens, overlapping by ``overlap``.

    The underlying splitter is built on the first ``split`` (loading a tokenizer takes tens of
    milliseconds); ``split`` is CPU work, so async callers run it in a worker thread.
    """

    def __init__(
        self,
        build: Callable[[int, int], Any],
        *,
        max_tokens: int,
        overlap: int = 0,
        tokenizer: str,
    ) -> None:
        if max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be at least 1, not {max_tokens}")
        if not 0 <= overlap < max_tokens:
            raise ConfigurationError(
                f"overlap ({overlap}) must be at least 0 and smaller than max_tokens ({max_tokens})"
            )
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.tokenizer = tokenizer
        self._build = build
        self._splitter: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_tokenizer_file(
        cls, path: str | Path, max_tokens: int, overlap: int = 0, *, markdown: bool = False
    ) -> TokenSplitter:
        """Count tokens with a Hugging Face ``tokenizer.json`` (the local model ships one)."""
        file = str(path)

        def build(capacity: int, overlap: int) -> Any:
            kind = _splitter_class(markdown)
            tokenizers = require("tokenizers", _FEATURE)
            try:
                tokenizer = tokenizers.Tokenizer.from_file(file)
            except Exception as error:  # the library raises a bare Exception
                raise ConfigurationError(f"cannot load the tokenizer {file}: {error}") from error
            # A model's tokenizer.json often truncates (all-MiniLM-L6-v2's at 128 tokens):
            # counting through it would see every long text as short enough.
            tokenizer.no_truncation()
            tokenizer.no_padding()
            return kind.from_huggingface_tokenizer(tokenizer, capacity, overlap)

        return cls(build, max_tokens=max_tokens, overlap=overlap, tokenizer=file)

    @classmethod
    def from_tiktoken_model(
        cls, model: str, max_tokens: int, overlap: int = 0, *, markdown: bool = False
    ) -> TokenSplitter:
        """Count tokens with the tiktoken encoding of an OpenAI ``model`` (cl100k_base when
        the name is unknown, as Azure deployment names are)."""

        def build(capacity: int, overlap: int) -> Any:
            kind = _splitter_class(markdown)
            try:
                return kind.from_tiktoken_model(model, capacity, overlap)
            except Exception:  # "No tokenizer found for model ..."
                return kind.from_tiktoken_model(FALLBACK_TIKTOKEN_MODEL, capacity, overlap)

        return cls(build, max_tokens=max_tokens, overlap=overlap, tokenizer=f"tiktoken:{model}")

    def split(self, text: str) -> list[str]:
        """The chunks of ``text`` in order; none for empty or blank text."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, not {type(text).__name__}")
        if not text.strip():
            return []
        chunks: list[str] = self._ready().chunks(text)
        return chunks

    def _ready(self) -> Any:
        with self._lock:
            if self._splitter is None:
                self._splitter = self._build(self.max_tokens, self.overlap)
            return self._splitter

    def __repr__(self) -> str:
        return (
            f"TokenSplitter(tokenizer={self.tokenizer!r}, max_tokens={self.max_tokens}, "
            f"overlap={self.overlap})"
        )


def _splitter_class(markdown: bool) -> Any:
    library = require("semantic_text_splitter", _FEATURE)
    return library.MarkdownSplitter if markdown else library.TextSplitter
