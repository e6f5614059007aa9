"""The OpenAI-compatible provider against a stand-in /v1/embeddings server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from openai_standin import EmbeddingsStandIn, QueuedAnswer, fake_vector

from mdb_engine.embeddings import (
    AzureOpenAIEmbeddingProvider,
    EmbeddingProvider,
    OpenAIEmbeddingProvider,
)
from mdb_engine.embeddings.providers.openai import DEFAULT_AZURE_API_VERSION
from mdb_engine.errors import ConfigurationError, EmbeddingError

ENVIRONMENT = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_VERSION",
    "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[EmbeddingsStandIn]:
    with EmbeddingsStandIn() as standin:
        yield standin


def provider_for(server: EmbeddingsStandIn, **options: object) -> OpenAIEmbeddingProvider:
    settings: dict[str, object] = {"api_key": "sk-test", "base_url": server.base_url}
    settings.update(options)
    return OpenAIEmbeddingProvider("text-embedding-3-small", backoff=0.001, **settings)  # type: ignore[arg-type]


async def test_texts_are_sent_with_the_key_and_vectors_come_back_in_order(
    server: EmbeddingsStandIn,
) -> None:
    server.shuffle = True  # the answer lists items by "index", not in order
    provider = provider_for(server)
    try:
        vectors = await provider.embed(["first", "second", "third"])
    finally:
        await provider.aclose()
    assert vectors == [fake_vector(text, 8) for text in ("first", "second", "third")]
    [request] = server.requests
    assert request.path == "/v1/embeddings"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body == {
        "model": "text-embedding-3-small",
        "encoding_format": "float",
        "input": ["first", "second", "third"],
    }
    assert provider.dimensions == 8  # learnt from the answer: the server's, not the model's


async def test_texts_go_in_batches(server: EmbeddingsStandIn) -> None:
    provider = provider_for(server, batch_size=2)
    texts = [f"text {number}" for number in range(5)]
    try:
        vectors = await provider.embed(texts)
    finally:
        await provider.aclose()
    assert [request.body["input"] for request in server.requests] == [
        texts[0:2],
        texts[2:4],
        texts[4:5],
    ]
    assert vectors == [fake_vector(text, 8) for text in texts]


async def test_configured_dimensions_are_sent_and_checked(server: EmbeddingsStandIn) -> None:
    provider = provider_for(server, dimensions=16)
    try:
        assert len((await provider.embed(["x"]))[0]) == 16
        assert server.requests[0].body["dimensions"] == 16
        server.queue(QueuedAnswer(200, {"data": [{"index": 0, "embedding": fake_vector("x", 3)}]}))
        with pytest.raises(EmbeddingError, match="3 dimensions; expected 16"):
            await provider.embed(["x"])
    finally:
        await provider.aclose()


async def test_429_and_5xx_are_retried(server: EmbeddingsStandIn) -> None:
    server.queue(
        QueuedAnswer(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}),
        QueuedAnswer(503, {"error": {"message": "overloaded"}}),
        QueuedAnswer(500, b"oops"),
    )
    provider = provider_for(server)
    try:
        assert await provider.embed(["x"]) == [fake_vector("x", 8)]
    finally:
        await provider.aclose()
    assert len(server.requests) == 4


async def test_retries_end_with_a_clear_error(server: EmbeddingsStandIn) -> None:
    server.queue(*[QueuedAnswer(429, {"error": {"message": "quota exceeded"}})] * 3)
    provider = provider_for(server, max_retries=2)
    try:
        with pytest.raises(EmbeddingError, match=r"HTTP 429 after 2 retries: quota exceeded"):
            await provider.embed(["x"])
    finally:
        await provider.aclose()
    assert len(server.requests) == 3


async def test_401_is_a_clear_error_and_not_retried(server: EmbeddingsStandIn) -> None:
    server.queue(QueuedAnswer(401, {"error": {"message": "Incorrect API key provided"}}))
    provider = provider_for(server, api_key="sk-wrong")
    try:
        with pytest.raises(EmbeddingError, match=r"refused the API key \(HTTP 401\)") as caught:
            await provider.embed(["x"])
    finally:
        await provider.aclose()
    assert "OPENAI_API_KEY" in str(caught.value)
    assert "sk-wrong" not in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (QueuedAnswer(404, {"error": {"message": "model not found"}}), "404 Not Found"),
        (QueuedAnswer(403, {"error": "forbidden"}), r"denied access \(HTTP 403\): forbidden"),
        (QueuedAnswer(400, {"error": {"message": "input too long"}}), "HTTP 400: input too long"),
        (QueuedAnswer(200, b"<html>"), "not JSON"),
        (QueuedAnswer(200, {"data": []}), "answered 0 embeddings for 1 texts"),
        (QueuedAnswer(200, {"nothing": True}), "answered no embeddings"),
        (QueuedAnswer(200, {"data": [{"index": 5, "embedding": [1.0]}]}), "bad 'index'"),
        (QueuedAnswer(200, {"data": [{"index": 0, "embedding": "AAAA"}]}), "not a list"),
        (QueuedAnswer(200, {"data": [{"index": 0, "embedding": ["a"]}]}), "non-numeric"),
    ],
)
async def test_bad_answers_are_clear_errors(
    server: EmbeddingsStandIn, answer: QueuedAnswer, message: str
) -> None:
    server.queue(answer)
    provider = provider_for(server)
    try:
        with pytest.raises(EmbeddingError, match=message):
            await provider.embed(["x"])
    finally:
        await provider.aclose()


async def test_an_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAIEmbeddingProvider(
        base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff=0.001
    )
    try:
        with pytest.raises(EmbeddingError, match="could not reach"):
            await provider.embed(["x"])
    finally:
        await provider.aclose()


async def test_azure_uses_the_deployment_path_api_version_and_api_key(
    server: EmbeddingsStandIn,
) -> None:
    provider = AzureOpenAIEmbeddingProvider(
        "my-embedder", api_key="azure-key", endpoint=server.origin + "/", backoff=0.001
    )
    try:
        assert await provider.embed(["x", "y"]) == [fake_vector("x", 8), fake_vector("y", 8)]
    finally:
        await provider.aclose()
    [request] = server.requests
    assert request.path == "/openai/deployments/my-embedder/embeddings"
    assert request.query == {"api-version": [DEFAULT_AZURE_API_VERSION]}
    assert request.headers["api-key"] == "azure-key"
    assert "authorization" not in request.headers
    assert request.body == {"encoding_format": "float", "input": ["x", "y"]}


async def test_azure_is_configured_from_the_environment(
    server: EmbeddingsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.origin)
    monkeypatch.setenv("AZURE_OPENAI_EMBEDDING_DEPLOYMENT", "env-deployment")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    provider = AzureOpenAIEmbeddingProvider(dimensions=8)
    try:
        await provider.embed(["x"])
    finally:
        await provider.aclose()
    [request] = server.requests
    assert request.path == "/openai/deployments/env-deployment/embeddings"
    assert request.query == {"api-version": ["2024-06-01"]}
    assert request.headers["api-key"] == "env-key"
    assert request.body["dimensions"] == 8
    assert provider.deployment == "env-deployment"


def test_azure_names_every_missing_setting() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AzureOpenAIEmbeddingProvider()
    message = str(caught.value)
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "EMBEDDING_DEPLOYMENT"):
        assert name in message


async def test_openai_is_configured_from_the_environment(
    server: EmbeddingsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url + "/")
    provider = OpenAIEmbeddingProvider()
    try:
        await provider.embed(["x"])
    finally:
        await provider.aclose()
    assert server.requests[0].headers["authorization"] == "Bearer sk-env"
    assert provider.url == server.base_url + "/embeddings"


async def test_arguments_win_over_the_environment(
    server: EmbeddingsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    provider = provider_for(server, api_key="sk-argument")
    try:
        await provider.embed(["x"])
    finally:
        await provider.aclose()
    assert server.requests[0].headers["authorization"] == "Bearer sk-argument"


async def test_a_compatible_server_may_need_no_key(server: EmbeddingsStandIn) -> None:
    provider = OpenAIEmbeddingProvider("nomic-embed-text", base_url=server.base_url)
    try:
        await provider.embed(["x"])
    finally:
        await provider.aclose()
    assert "authorization" not in server.requests[0].headers
    assert provider.model == "nomic-embed-text"


def test_openai_itself_needs_a_key() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIEmbeddingProvider()


def test_known_models_know_their_dimensions() -> None:
    assert OpenAIEmbeddingProvider(api_key="k").dimensions == 1536
    assert OpenAIEmbeddingProvider("text-embedding-3-large", api_key="k").dimensions == 3072
    shortened = OpenAIEmbeddingProvider("text-embedding-3-large", api_key="k", dimensions=256)
    assert shortened.dimensions == 256
    assert OpenAIEmbeddingProvider("other", api_key="k").dimensions is None
    # Elsewhere a known name may be another model: learnt from the first answer.
    assert OpenAIEmbeddingProvider(base_url="http://x/v1").dimensions is None


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="batch_size"):
        OpenAIEmbeddingProvider(api_key="k", batch_size=0)
    with pytest.raises(ConfigurationError, match="max_retries"):
        OpenAIEmbeddingProvider(api_key="k", max_retries=-1)


async def test_it_is_an_embedding_provider_and_refuses_one_string() -> None:
    provider = OpenAIEmbeddingProvider(api_key="k")
    assert isinstance(provider, EmbeddingProvider)
    with pytest.raises(TypeError, match="not one string"):
        await provider.embed("text")
    await provider.aclose()  # nothing was opened
