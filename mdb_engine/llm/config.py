"""LLM settings from the environment: an OpenAI-compatible server, or Azure OpenAI.

OpenAI or a compatible server (Ollama, llama.cpp, vLLM, LM Studio…):
``MDB_ENGINE_LLM_MODEL`` (or ``OPENAI_MODEL``), ``OPENAI_BASE_URL`` (default OpenAI, which
then needs ``OPENAI_API_KEY``), ``OPENAI_API_KEY`` (optional for a local server).
Azure OpenAI, chosen when ``AZURE_OPENAI_ENDPOINT`` is set: ``AZURE_OPENAI_DEPLOYMENT`` (or
``MDB_ENGINE_LLM_MODEL``), ``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_API_VERSION``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from mdb_engine.errors import ConfigurationError

__all__ = [
    "DEFAULT_AZURE_API_VERSION",
    "DEFAULT_OPENAI_BASE_URL",
    "LLMSettings",
    "settings_from_env",
]

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_AZURE_API_VERSION = "2024-10-21"

_HOW_TO_CONFIGURE = (
    "set MDB_ENGINE_LLM_MODEL (or OPENAI_MODEL) to the model name, plus either OPENAI_API_KEY "
    "for OpenAI, or OPENAI_BASE_URL for a compatible server, e.g. Ollama: "
    "OPENAI_BASE_URL=http://127.0.0.1:11434/v1 MDB_ENGINE_LLM_MODEL=llama3.2 (llama.cpp's "
    "server: http://127.0.0.1:8080/v1); for Azure OpenAI set AZURE_OPENAI_ENDPOINT, "
    "AZURE_OPENAI_DEPLOYMENT and AZURE_OPENAI_API_KEY"
)


@dataclass(frozen=True)
class LLMSettings:
    """Where chat completions go: the full URL, the model and the headers and query to send."""

    url: str
    model: str
    description: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    is_azure: bool = False


def openai_settings(
    model: str | None, *, api_key: str | None = None, base_url: str | None = None
) -> LLMSettings:
    """Settings for OpenAI or a compatible server; refuses OpenAI itself without a key."""
    if not model:
        raise ConfigurationError(f"no LLM model is configured: {_HOW_TO_CONFIGURE}")
    base = (base_url or DEFAULT_OPENAI_BASE_URL).rstrip("/")
    if not api_key and base == DEFAULT_OPENAI_BASE_URL:
        raise ConfigurationError(
            "the LLM client would call api.openai.com without an API key: set OPENAI_API_KEY, "
            "or point OPENAI_BASE_URL at a compatible server (e.g. "
            "OPENAI_BASE_URL=http://127.0.0.1:11434/v1 for Ollama)"
        )
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return LLMSettings(f"{base}/chat/completions", model, f"the LLM server at {base}", headers)


def azure_settings(
    deployment: str | None,
    *,
    endpoint: str,
    api_key: str | None,
    api_version: str | None = None,
) -> LLMSettings:
    """Settings for an Azure OpenAI deployment."""
    if not deployment:
        raise ConfigurationError(
            "AZURE_OPENAI_ENDPOINT is set but no deployment is: set AZURE_OPENAI_DEPLOYMENT "
            "(or MDB_ENGINE_LLM_MODEL) to the chat model's deployment name"
        )
    if not api_key:
        raise ConfigurationError(
            "Azure OpenAI needs an API key: set AZURE_OPENAI_API_KEY (or pass api_key=)"
        )
    base = endpoint.rstrip("/")
    return LLMSettings(
        f"{base}/openai/deployments/{deployment}/chat/completions",
        deployment,
        f"Azure OpenAI at {base}",
        {"api-key": api_key},
        {"api-version": api_version or DEFAULT_AZURE_API_VERSION},
        is_azure=True,
    )


def settings_from_env(environ: Mapping[str, str] | None = None) -> LLMSettings:
    """The settings the environment describes; ``ConfigurationError`` says what to set."""
    env = os.environ if environ is None else environ

    def get(*names: str) -> str | None:
        for name in names:
            value = env.get(name, "").strip()
            if value:
                return value
        return None

    endpoint = get("AZURE_OPENAI_ENDPOINT")
    if endpoint is not None:
        return azure_settings(
            get("AZURE_OPENAI_DEPLOYMENT", "MDB_ENGINE_LLM_MODEL"),
            endpoint=endpoint,
            api_key=get("AZURE_OPENAI_API_KEY"),
            api_version=get("AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION"),
        )
    return openai_settings(
        get("MDB_ENGINE_LLM_MODEL", "OPENAI_MODEL"),
        api_key=get("OPENAI_API_KEY"),
        base_url=get("OPENAI_BASE_URL"),
    )
