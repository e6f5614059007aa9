"""Token-aware splitting: chunk sizes in the model's own tokens, overlap, edge cases."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from mdb_engine.embeddings import TokenSplitter
from mdb_engine.embeddings.providers.local import resolve_model_path
from mdb_engine.errors import ConfigurationError

TOKENIZER = resolve_model_path(None) / "tokenizer.json"
SENTENCES = [
    f"Sentence {number} explains how topic {number % 7} relates to the others in detail."
    for number in range(80)
]
TEXT = " ".join(SENTENCES)


@functools.cache
def tokenizer() -> Tokenizer:
    loaded = Tokenizer.from_file(str(TOKENIZER))
    loaded.no_truncation()
    loaded.no_padding()
    return loaded


def count_tokens(text: str) -> int:
    return len(tokenizer().encode(text, add_special_tokens=False).ids)


def test_chunks_stay_within_the_token_limit() -> None:
    splitter = TokenSplitter.from_tokenizer_file(TOKENIZER, 64)
    chunks = splitter.split(TEXT)
    assert count_tokens(TEXT) > 64 * 10
    assert len(chunks) > 10
    assert all(count_tokens(chunk) <= 64 for chunk in chunks)
    assert " ".join(chunks) == TEXT  # no overlap: the chunks are the text, cut at sentences


def test_long_texts_are_not_hidden_by_the_tokenizer_s_truncation() -> None:
    # all-MiniLM-L6-v2's tokenizer.json truncates at 128 tokens; the splitter must count all.
    splitter = TokenSplitter.from_tokenizer_file(TOKENIZER, 200)
    chunks = splitter.split("Hello world. " * 300)
    assert len(chunks) >= 4
    assert all(count_tokens(chunk) <= 200 for chunk in chunks)


def test_neighbouring_chunks_overlap() -> None:
    plain = TokenSplitter.from_tokenizer_file(TOKENIZER, 64).split(TEXT)
    overlapping = TokenSplitter.from_tokenizer_file(TOKENIZER, 64, overlap=32).split(TEXT)
    assert len(overlapping) > len(plain)
    assert all(count_tokens(chunk) <= 64 for chunk in overlapping)
    shared = [
        sentence
        for first, second in itertools.pairwise(overlapping)
        for sentence in SENTENCES
        if sentence in first and sentence in second
    ]
    assert shared


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_empty_or_blank_text_has_no_chunks(text: str) -> None:
    assert TokenSplitter.from_tokenizer_file(TOKENIZER, 64).split(text) == []


def test_a_short_text_is_one_chunk() -> None:
    assert TokenSplitter.from_tokenizer_file(TOKENIZER, 64).split("  Just this. ") == ["Just this."]


def test_markdown_is_cut_at_sections() -> None:
    document = "\n\n".join(
        f"# Part {number}\n\n" + " ".join(SENTENCES[number * 4 : number * 4 + 4])
        for number in range(4)
    )
    chunks = TokenSplitter.from_tokenizer_file(TOKENIZER, 90, markdown=True).split(document)
    assert all(chunk.startswith("# Part") for chunk in chunks)


def test_tiktoken_models_are_counted_offline_and_unknown_ones_fall_back() -> None:
    known = TokenSplitter.from_tiktoken_model("text-embedding-3-small", 50).split(TEXT)
    unknown = TokenSplitter.from_tiktoken_model("my-azure-deployment", 50).split(TEXT)
    assert len(known) > 5
    assert known == unknown  # the fallback is the same cl100k_base encoding


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="max_tokens"):
        TokenSplitter.from_tokenizer_file(TOKENIZER, 0)
    with pytest.raises(ConfigurationError, match="overlap"):
        TokenSplitter.from_tokenizer_file(TOKENIZER, 10, overlap=10)
    with pytest.raises(TypeError):
        TokenSplitter.from_tokenizer_file(TOKENIZER, 10).split(b"bytes")  # type: ignore[arg-type]


def test_a_missing_tokenizer_file_is_a_configuration_error(tmp_path: Path) -> None:
    splitter = TokenSplitter.from_tokenizer_file(tmp_path / "tokenizer.json", 10)
    with pytest.raises(ConfigurationError, match="cannot load the tokenizer"):
        splitter.split("some text")
    assert "tokenizer.json" in repr(splitter)
