"""Build a provider, a splitter and a service from a manifest's ``embedding_config``.

``provider``: ``local`` (default; ``model`` is a folder or a cached model name, default the
bundled all-MiniLM-L6-v2), ``openai`` (``model``, ``api_base`` for a compatible server) or
``azure_openai`` (``model`` is the deployment, ``api_base`` the endpoint); keys come from the
environment. Chunks hold at most ``max_tokens_per_chunk`` tokens of the model's tokenizer,
capped at what the local model reads, and overlap by ``chunk_overlap``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from mdb_engine.embeddings.atlas import VectorIndex, declared_vector_indexes
from mdb_engine.embeddings.providers.local import LocalEmbeddingProvider
from mdb_engine.embeddings.providers.openai import (
    DEFAULT_OPENAI_MODEL,
    AzureOpenAIEmbeddingProvider,
    OpenAIEmbeddingProvider,
)
from mdb_engine.embeddings.service import EmbeddingService
from mdb_engine.embeddings.splitter import FALLBACK_TIKTOKEN_MODEL, TokenSplitter
from mdb_engine.errors import ConfigurationError

if TYPE_CHECKING:
    from mdb_engine.core.manifest import AppManifest, EmbeddingConfig
    from mdb_engine.database import ScopedDatabase
    from mdb_engine.embeddings.providers.base import EmbeddingProvider

__all__ = ["build_provider", "build_service", "build_splitter", "service_for_manifest"]

logger = logging.getLogger(__name__)

# [CLS] and [SEP]: the splitter counts a chunk's tokens without them, the model with them.
_SPECIAL_TOKENS = 2


def build_provider(config: EmbeddingConfig) -> EmbeddingProvider:
    """The provider ``config`` names, configured from it and the environment."""
    if config.provider == "local":
        return LocalEmbeddingProvider(config.model, dimensions=config.dimensions)
    if config.provider == "openai":
        return OpenAIEmbeddingProvider(
            config.model, base_url=config.api_base, dimensions=config.dimensions
        )
    if config.provider == "azure_openai":
        return AzureOpenAIEmbeddingProvider(
            config.model, endpoint=config.api_base, dimensions=config.dimensions
        )
    raise ConfigurationError(f"unknown embedding provider {config.provider!r}")


def build_splitter(config: EmbeddingConfig, provider: EmbeddingProvider) -> TokenSplitter:
    """A splitter counting tokens the way ``provider``'s model does."""
    max_tokens, overlap = config.max_tokens_per_chunk, config.chunk_overlap
    if isinstance(provider, LocalEmbeddingProvider):
        if provider.max_tokens is not None and max_tokens > provider.max_tokens - _SPECIAL_TOKENS:
            capped = provider.max_tokens - _SPECIAL_TOKENS
            logger.info(
                "max_tokens_per_chunk %d is more than the local model reads (%d tokens); "
                "chunks are capped at %d tokens",
                max_tokens,
                provider.max_tokens,
                capped,
            )
            max_tokens, overlap = capped, min(overlap, capped // 2)
        if provider.tokenizer_file is not None:
            return TokenSplitter.from_tokenizer_file(provider.tokenizer_file, max_tokens, overlap)
        return TokenSplitter.from_tiktoken_model(FALLBACK_TIKTOKEN_MODEL, max_tokens, overlap)
    model = config.model if config.provider == "openai" else None
    return TokenSplitter.from_tiktoken_model(model or DEFAULT_OPENAI_MODEL, max_tokens, overlap)


def build_service(
    config: EmbeddingConfig,
    *,
    database: ScopedDatabase | Callable[[], ScopedDatabase] | None = None,
    vector_indexes: Mapping[str, Sequence[VectorIndex]] | None = None,
) -> EmbeddingService:
    """A service for ``config``; blocking (reads model files): call it from a worker thread."""
    provider = build_provider(config)
    return EmbeddingService(
        provider,
        build_splitter(config, provider),
        database=database,
        default_collection=config.collection,
        vector_indexes=vector_indexes,
    )


def service_for_manifest(
    manifest: AppManifest,
    database: ScopedDatabase | Callable[[], ScopedDatabase] | None = None,
) -> EmbeddingService:
    """The service an app's manifest describes (defaults if it has no ``embedding_config``);
    blocking: call it from a worker thread."""
    from mdb_engine.core.manifest import EmbeddingConfig

    config = manifest.embedding_config or EmbeddingConfig()
    if not config.enabled:
        raise ConfigurationError(
            f"embeddings are disabled for app {manifest.slug!r} (embedding_config.enabled is false)"
        )
    return build_service(
        config,
        database=database,
        vector_indexes=declared_vector_indexes(manifest.managed_indexes),
    )
