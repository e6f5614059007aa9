"""Fixtures for the LLM client tests: the local chat stand-in server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_standin import ChatStandIn


@pytest.fixture
def chat_server() -> Iterator[ChatStandIn]:
    """A chat completions stand-in on 127.0.0.1 for one test."""
    with ChatStandIn() as server:
        yield server
