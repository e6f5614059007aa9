"""LLMClient: async chat completions from any OpenAI-compatible server, over httpx.

``POST {base}/chat/completions`` (or Azure's deployment URL) with ``{"model", "messages", …}``.
429, 408 and 5xx answers and connection failures are retried with exponential backoff
(``Retry-After`` is honoured, capped); 401, 404 and unusable answers raise ``LLMError`` with
what to check. ``stream`` reads the server-sent events of ``"stream": true``; it retries only
before the first piece of text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mdb_engine._openai_http import RetryingHTTP, server_message
from mdb_engine.errors import LLMError
from mdb_engine.llm.config import (
    LLMSettings,
    azure_settings,
    openai_settings,
    settings_from_env,
)

if TYPE_CHECKING:
    import httpx

    from mdb_engine.llm.base import Message

__all__ = ["LLMClient"]

logger = logging.getLogger(__name__)

_RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class LLMClient:
    """An OpenAI-compatible chat client; build it with ``from_env()``, ``openai()`` or
    ``azure()``, or from ``LLMSettings``. Use ``async with`` or call ``aclose()``."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self._http = RetryingHTTP(
            settings.description,
            feature="the LLM client",
            extra="ai",
            retried_statuses=_RETRIED_STATUSES,
            max_retries=max_retries,
            backoff=backoff,
            timeout=timeout,
            error_type=LLMError,
            logger=logger,
        )
        self.settings = settings

    @classmethod
    def from_env(cls, **options: Any) -> LLMClient:
        """A client as the environment configures it (see ``mdb_engine.llm.config``)."""
        return cls(settings_from_env(), **options)

    @classmethod
    def openai(
        cls,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        **options: Any,
    ) -> LLMClient:
        """A client for OpenAI (needs ``api_key``) or a compatible server at ``base_url``."""
        return cls(openai_settings(model, api_key=api_key, base_url=base_url), **options)

    @classmethod
    def azure(
        cls,
        deployment: str,
        *,
        endpoint: str,
        api_key: str,
        api_version: str | None = None,
        **options: Any,
    ) -> LLMClient:
        """A client for an Azure OpenAI deployment."""
        settings = azure_settings(
            deployment, endpoint=endpoint, api_key=api_key, api_version=api_version
        )
        return cls(settings, **options)

    @property
    def model(self) -> str:
        """The model (or Azure deployment) asked when ``model=`` is not given."""
        return self.settings.model

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **extra: Any,
    ) -> str:
        """The assistant's answer to ``messages``; ``extra`` goes into the request body."""
        body = self._body(messages, model, temperature, max_tokens, extra, is_stream=False)
        response = await self._send(body)
        answer = self._json(response)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as error:
            raise LLMError(
                f"{self.settings.description} answered without choices[0].message.content"
            ) from error
        if not isinstance(content, str):
            raise LLMError(f"{self.settings.description} answered a non-text message content")
        return content

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **extra: Any,
    ) -> AsyncIterator[str]:
        """The answer's text in pieces (``"stream": true``, server-sent events)."""
        body = self._body(messages, model, temperature, max_tokens, extra, is_stream=True)
        response = await self._send(body, is_stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                self._json(response)  # raises the error that status means
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                piece = self._delta(data)
                if piece:
                    yield piece
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _body(
        self,
        messages: Sequence[Message],
        model: str | None,
        temperature: float | None,
        max_tokens: int | None,
        extra: Mapping[str, Any],
        *,
        is_stream: bool,
    ) -> dict[str, Any]:
        if isinstance(messages, str) or not messages:
            raise ValueError("messages must be a non-empty list of {'role', 'content'} dicts")
        body: dict[str, Any] = {"model": model or self.settings.model}
        body["messages"] = [dict(message) for message in messages]
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        body.update(extra)
        if is_stream:
            body["stream"] = True
        return body

    async def _send(self, body: Mapping[str, Any], *, is_stream: bool = False) -> httpx.Response:
        return await self._http.send(
            "POST",
            self.settings.url,
            is_stream=is_stream,
            json=body,
            headers=dict(self.settings.headers),
            params=dict(self.settings.params),
        )

    def _json(self, response: httpx.Response) -> Any:
        status, where = response.status_code, self.settings.description
        if status == 401:
            variable = "AZURE_OPENAI_API_KEY" if self.settings.is_azure else "OPENAI_API_KEY"
            raise LLMError(f"{where} refused the API key (HTTP 401): check {variable}")
        if status == 404:
            raise LLMError(
                f"{where} answered 404 Not Found for {self.settings.url} (model "
                f"{self.settings.model!r}): check the base URL and the model or deployment "
                f"name ({server_message(response)})"
            )
        return self._http.json(response)

    def _delta(self, data: str) -> str | None:
        try:
            event = json.loads(data)
        except ValueError as error:
            raise LLMError(
                f"{self.settings.description} streamed an event that is not JSON"
            ) from error
        if isinstance(event, Mapping) and "error" in event:
            raise LLMError(f"{self.settings.description} streamed an error: {event['error']}")
        try:
            choices = event["choices"]
            if not choices:  # usage-only events have no choices
                return None
            content = choices[0].get("delta", {}).get("content")
        except (KeyError, TypeError, AttributeError) as error:
            raise LLMError(
                f"{self.settings.description} streamed an event without choices[0].delta"
            ) from error
        return content if isinstance(content, str) else None
