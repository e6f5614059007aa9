"""LLMClient against a local stand-in server: requests, retries, errors, streaming, Azure."""

from __future__ import annotations

import time

import pytest
from chat_standin import ChatStandIn, QueuedAnswer

from mdb_engine.errors import ConfigurationError, LLMError, MDBEngineError
from mdb_engine.llm import ChatModel, LLMClient, settings_from_env

HELLO = [{"role": "user", "content": "hello there"}]


def test_no_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MDB_ENGINE_LLM_MODEL",
        "OPENAI_MODEL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as caught:
        LLMClient.from_env()
    message = str(caught.value)
    for name in ("MDB_ENGINE_LLM_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "11434/v1"):
        assert name in message


def test_openai_itself_is_never_called_without_a_key() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        settings_from_env({"MDB_ENGINE_LLM_MODEL": "gpt-4o-mini"})
    settings = settings_from_env({"OPENAI_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": "sk-1"})
    assert settings.url == "https://api.openai.com/v1/chat/completions"
    assert settings.headers == {"Authorization": "Bearer sk-1"}


def test_azure_settings_from_the_environment() -> None:
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_DEPLOYMENT"):
        settings_from_env({"AZURE_OPENAI_ENDPOINT": "http://azure.test"})
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_API_KEY"):
        settings_from_env({"AZURE_OPENAI_ENDPOINT": "http://a", "AZURE_OPENAI_DEPLOYMENT": "d"})


async def test_chat_sends_model_messages_and_key(
    chat_server: ChatStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    monkeypatch.setenv("MDB_ENGINE_LLM_MODEL", "llama3.2")
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    async with LLMClient.from_env() as client:
        assert isinstance(client, ChatModel)
        assert await client.chat(HELLO) == "echo: hello there"
        answer = await client.chat(
            HELLO, model="other", temperature=0.2, max_tokens=5, response_format={"type": "text"}
        )
        assert answer == "echo: hello there"
    first, second = chat_server.requests
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == "Bearer sk-local"
    assert first.body == {"model": "llama3.2", "messages": HELLO}
    assert second.body == {
        "model": "other",
        "messages": HELLO,
        "temperature": 0.2,
        "max_tokens": 5,
        "response_format": {"type": "text"},
    }


async def test_a_local_server_needs_no_key(chat_server: ChatStandIn) -> None:
    async with LLMClient.openai("llama3.2", base_url=chat_server.base_url) as client:
        assert await client.chat(HELLO) == "echo: hello there"
    assert "authorization" not in chat_server.requests[0].headers


async def test_429_and_5xx_are_retried_honouring_retry_after(chat_server: ChatStandIn) -> None:
    chat_server.queue(
        QueuedAnswer(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.3"}),
        QueuedAnswer(503, {"error": {"message": "busy"}}),
    )
    async with LLMClient.openai("m", base_url=chat_server.base_url, backoff=0.01) as client:
        started = time.monotonic()
        assert await client.chat(HELLO) == "echo: hello there"
        assert time.monotonic() - started >= 0.3
    assert len(chat_server.requests) == 3


async def test_retries_give_up_with_the_server_message(chat_server: ChatStandIn) -> None:
    chat_server.queue(*[QueuedAnswer(500, {"error": {"message": "broken"}})] * 3)
    async with LLMClient.openai(
        "m", base_url=chat_server.base_url, max_retries=2, backoff=0.01
    ) as client:
        with pytest.raises(LLMError, match="HTTP 500 after 2 retries: broken"):
            await client.chat(HELLO)


async def test_401_and_404_are_clear_errors(chat_server: ChatStandIn) -> None:
    chat_server.queue(
        QueuedAnswer(401, {"error": {"message": "bad key"}}),
        QueuedAnswer(404, {"error": {"message": "model 'nope' not found"}}),
    )
    async with LLMClient.openai("nope", api_key="wrong", base_url=chat_server.base_url) as client:
        with pytest.raises(LLMError, match="OPENAI_API_KEY"):
            await client.chat(HELLO)
        with pytest.raises(MDBEngineError, match="model 'nope' not found"):
            await client.chat(HELLO)
    assert len(chat_server.requests) == 2  # neither is retried


async def test_unusable_answers_are_clear_errors(chat_server: ChatStandIn) -> None:
    chat_server.queue(QueuedAnswer(200, b"not json"), QueuedAnswer(200, {"choices": []}))
    async with LLMClient.openai("m", base_url=chat_server.base_url) as client:
        with pytest.raises(LLMError, match="not JSON"):
            await client.chat(HELLO)
        with pytest.raises(LLMError, match="choices"):
            await client.chat(HELLO)
        with pytest.raises(ValueError, match="non-empty"):
            await client.chat([])


async def test_an_unreachable_server_is_an_llm_error() -> None:
    with ChatStandIn() as server:
        base_url = server.base_url
    async with LLMClient.openai("m", base_url=base_url, max_retries=1, backoff=0.01) as client:
        with pytest.raises(LLMError, match="could not reach"):
            await client.chat(HELLO)


async def test_stream_yields_the_text_in_pieces(chat_server: ChatStandIn) -> None:
    chat_server.queue(QueuedAnswer(429, {}, {"Retry-After": "0"}))
    async with LLMClient.openai("m", base_url=chat_server.base_url) as client:
        pieces = [piece async for piece in client.stream(HELLO)]
    assert pieces == ["echo:", " hello", " there"]
    assert chat_server.requests[-1].body["stream"] is True
    assert len(chat_server.requests) == 2


async def test_stream_errors_are_clear(chat_server: ChatStandIn) -> None:
    chat_server.queue(QueuedAnswer(401, {"error": {"message": "bad key"}}))
    async with LLMClient.openai("m", api_key="k", base_url=chat_server.base_url) as client:
        with pytest.raises(LLMError, match="401"):
            async for _ in client.stream(HELLO):
                pass


async def test_azure_deployment_url_key_and_version(chat_server: ChatStandIn) -> None:
    settings = settings_from_env(
        {
            "AZURE_OPENAI_ENDPOINT": chat_server.origin + "/",
            "AZURE_OPENAI_DEPLOYMENT": "chat-prod",
            "AZURE_OPENAI_API_KEY": "azure-key",
        }
    )
    async with LLMClient(settings) as client:
        assert await client.chat(HELLO) == "echo: hello there"
        pieces = [piece async for piece in client.stream(HELLO)]
        assert pieces[0] == "echo:"
    request = chat_server.requests[0]
    assert request.path == "/openai/deployments/chat-prod/chat/completions"
    assert request.headers["api-key"] == "azure-key"
    assert "authorization" not in request.headers
    assert request.query == {"api-version": ["2024-10-21"]}
