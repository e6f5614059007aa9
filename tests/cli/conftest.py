"""Fixtures of the command-line tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def process_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDB_ENGINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env
