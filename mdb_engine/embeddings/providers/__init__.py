"""Embedding providers: the protocol and its implementations, one module each."""

from __future__ import annotations

from mdb_engine.embeddings.providers.base import EmbeddingProvider
from mdb_engine.embeddings.providers.local import LocalEmbeddingProvider
from mdb_engine.embeddings.providers.openai import (
    AzureOpenAIEmbeddingProvider,
    OpenAIEmbeddingProvider,
)

__all__ = [
    "AzureOpenAIEmbeddingProvider",
    "EmbeddingProvider",
    "LocalEmbeddingProvider",
    "OpenAIEmbeddingProvider",
]
