"""MongoDBEngine: configuration, initialize/shutdown, context manager, unreachable server."""

from __future__ import annotations

import pytest

from mdb_engine import MongoDBEngine
from mdb_engine.core.config import redact_uri, resolve_settings
from mdb_engine.errors import ConfigurationError, DatabaseUnavailable, EngineNotInitialized
from mdb_engine.testing import CommandLog


def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDB_ENGINE_MONGO_URI", "mongodb://env-host:1")
    monkeypatch.setenv("MDB_ENGINE_DB_NAME", "env_db")
    engine = MongoDBEngine("mongodb://arg-host:2", "arg_db")
    assert (engine.mongo_uri, engine.db_name) == ("mongodb://arg-host:2", "arg_db")


def test_environment_wins_over_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDB_ENGINE_MONGO_URI", "mongodb://env-host:1")
    monkeypatch.setenv("MDB_ENGINE_DB_NAME", "env_db")
    engine = MongoDBEngine()
    assert (engine.mongo_uri, engine.db_name) == ("mongodb://env-host:1", "env_db")


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MDB_ENGINE_MONGO_URI", raising=False)
    monkeypatch.delenv("MDB_ENGINE_DB_NAME", raising=False)
    engine = MongoDBEngine()
    assert (engine.mongo_uri, engine.db_name) == ("mongodb://localhost:27017", "mdb_engine")


@pytest.mark.parametrize(
    ("uri", "db_name", "fragment"),
    [
        ("http://localhost", "db", "must start with 'mongodb://'"),
        ("mongodb://localhost", "bad.name", "database name 'bad.name'"),
        ("mongodb://localhost", "x" * 64, "1-63 bytes"),
    ],
)
def test_bad_settings_are_clear_errors(uri: str, db_name: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        MongoDBEngine(uri, db_name)


def test_bad_pool_sizes() -> None:
    with pytest.raises(ConfigurationError, match="min_pool_size"):
        resolve_settings(
            None, None, max_pool_size=1, min_pool_size=2, server_selection_timeout_ms=10
        )


@pytest.mark.parametrize(
    ("uri", "argument", "expected"),
    [
        ("mongodb://a:1,b:2/?replicaSet=rs0", None, 10_000),
        ("mongodb://a:1,b:2/?replicaSet=rs0&serverSelectionTimeoutMS=2500", None, 2500),
        ("mongodb://h/db?serverselectiontimeoutms=700", None, 700),  # names are case-insensitive
        ("mongodb://h/?serverSelectionTimeoutMS=2500", 1200, 1200),  # the argument wins
    ],
)
def test_server_selection_timeout_comes_from_the_argument_then_the_uri(
    uri: str, argument: int | None, expected: int
) -> None:
    engine = MongoDBEngine(uri, "db", server_selection_timeout_ms=argument)
    assert engine._settings.server_selection_timeout_ms == expected


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_uri_timeout_is_a_clear_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"serverSelectionTimeoutMS|must be positive"):
        MongoDBEngine(f"mongodb://h/?serverSelectionTimeoutMS={value}", "db")


async def test_the_uri_timeout_reaches_the_driver(mongodb_uri: str, mongodb_database: str) -> None:
    separator = "&" if "?" in mongodb_uri else "/?"
    engine = MongoDBEngine(
        f"{mongodb_uri}{separator}serverSelectionTimeoutMS=4321", mongodb_database
    )
    async with engine:
        client = engine._connected_client()
        assert client.options.server_selection_timeout == 4.321


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mongodb://alice:s3cret@host:27017/db", "mongodb://alice:***@host:27017/db"),
        ("mongodb+srv://bob:p%40ss@cluster.example/x", "mongodb+srv://bob:***@cluster.example/x"),
        ("mongodb://host:27017", "mongodb://host:27017"),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


async def test_unreachable_server_names_redacted_uri() -> None:
    # Port 1 on loopback: nothing listens there, so the ping fails fast.
    engine = MongoDBEngine(
        "mongodb://alice:topsecret@127.0.0.1:1/", "db", server_selection_timeout_ms=300
    )
    with pytest.raises(DatabaseUnavailable) as caught:
        await engine.initialize()
    message = str(caught.value)
    assert "mongodb://alice:***@127.0.0.1:1/" in message
    assert "topsecret" not in message
    assert "mdb-engine mongod" in message
    assert not engine.is_initialized


async def test_initialize_and_shutdown_are_idempotent(
    mongodb_uri: str, mongodb_database: str
) -> None:
    engine = MongoDBEngine(mongodb_uri, mongodb_database)
    await engine.initialize()
    await engine.initialize()
    assert engine.is_initialized
    await engine.shutdown()
    await engine.shutdown()
    assert not engine.is_initialized
    with pytest.raises(EngineNotInitialized, match="initialize"):
        await engine.register_app({"slug": "my_app", "name": "x", "schema_version": "2.0"})


async def test_async_context_manager(mongodb_uri: str, mongodb_database: str) -> None:
    async with MongoDBEngine(mongodb_uri, mongodb_database) as engine:
        assert engine.is_initialized
    assert not engine.is_initialized


async def test_initialize_pings_the_server(engine: MongoDBEngine, command_log: CommandLog) -> None:
    # The engine fixture initialized the engine with the command log attached.
    assert "ping" in command_log.names()
