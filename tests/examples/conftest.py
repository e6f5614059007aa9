"""Fixtures of the example tests: the examples served in process or by `mdb-engine serve`,
the local model, and the chat stand-in that answers for an LLM."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auth.conftest import SECRET, secret_key  # noqa: F401 (autouse fixture)
from tests.cli.conftest import process_env, serve  # noqa: F401 (fixtures)
from tests.host.conftest import host  # noqa: F401 (fixture)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "llm"))

from chat_standin import ChatStandIn

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def chat_server() -> Iterator[ChatStandIn]:
    """An OpenAI-compatible chat stand-in on 127.0.0.1 (echoes the last message unless a test
    queues answers)."""
    with ChatStandIn() as server:
        yield server


@pytest.fixture
def llm_env(chat_server: ChatStandIn, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment that points ``LLMClient.from_env()`` at the stand-in; set in this process
    and returned for a child process (``serve(..., env=llm_env)``)."""
    env = {
        "MDB_ENGINE_LLM_MODEL": "standin-model",
        "OPENAI_BASE_URL": chat_server.base_url,
        "OPENAI_API_KEY": "standin-key",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return env
