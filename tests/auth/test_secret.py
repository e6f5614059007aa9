"""The signing secret comes from the environment; missing or short is a clear error."""

from __future__ import annotations

import pytest

from mdb_engine.auth import resolve_secret_key
from mdb_engine.errors import ConfigurationError

GOOD = "k" * 32


def test_argument_wins_then_the_engine_variable_then_the_seed_variable() -> None:
    env = {"MDB_ENGINE_SECRET_KEY": "e" * 40, "FLASK_SECRET_KEY": "f" * 40}
    assert resolve_secret_key(GOOD, env) == GOOD
    assert resolve_secret_key(None, env) == "e" * 40
    assert resolve_secret_key(None, {"FLASK_SECRET_KEY": "f" * 40}) == "f" * 40


def test_missing_secret_says_how_to_make_one() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_secret_key(None, {})
    message = str(caught.value)
    assert "MDB_ENGINE_SECRET_KEY" in message
    assert "FLASK_SECRET_KEY" in message
    assert "secrets.token_urlsafe(32)" in message


def test_short_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_secret_key(None, {"MDB_ENGINE_SECRET_KEY": "hunter2"})
    assert "7 bytes long" in str(caught.value)
    assert "hunter2" not in str(caught.value)
