"""An OpenAI-compatible async LLM client for the examples, configured from the environment.

``LLMClient.from_env()`` reads ``MDB_ENGINE_LLM_MODEL``/``OPENAI_MODEL``, ``OPENAI_API_KEY``
and ``OPENAI_BASE_URL`` (or the ``AZURE_OPENAI_*`` variables); nothing is sent at import, and
nothing goes to api.openai.com without a key. httpx comes with the ``ai`` extra.
"""

from __future__ import annotations

from mdb_engine.llm.base import ChatModel, Message
from mdb_engine.llm.client import LLMClient
from mdb_engine.llm.config import LLMSettings, settings_from_env

__all__ = ["ChatModel", "LLMClient", "LLMSettings", "Message", "settings_from_env"]
