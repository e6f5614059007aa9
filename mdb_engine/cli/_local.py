"""Which MongoDB a command talks to: ``--mongo-uri``, else ``$MDB_ENGINE_MONGO_URI``, else the
local mongod of this folder (data under ``.mdb_engine/``), reused when ``serve`` or ``mongod``
already runs it, started for the command otherwise."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import typer
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mdb_engine.auth.secret import ENV_SECRET_KEY, LEGACY_ENV_SECRET_KEY
from mdb_engine.core.config import ENV_MONGO_URI
from mdb_engine.embedded import LocalMongod
from mdb_engine.errors import EmbeddedMongoError

__all__ = [
    "DEFAULT_DATA_DIR",
    "LOCAL_STATE_DIR",
    "MONGODB_DEFAULT_PORT",
    "ensure_secret_key",
    "is_port_free",
    "local_mongod",
    "mongo_uri_or_local",
    "start_local_mongod",
]

MONGODB_DEFAULT_PORT = 27017
LOCAL_STATE_DIR = Path(".mdb_engine")
DEFAULT_DATA_DIR = LOCAL_STATE_DIR / "db"
# Where a running local mongod leaves its address, so other commands reuse it instead of
# starting a second mongod on the same data (which mongod's lock file would refuse).
_URI_FILE = "mongod.uri"
_SECRET_FILE = "secret_key"


def start_local_mongod(port: int | None, data_dir: Path, mongod_path: Path | None) -> LocalMongod:
    """Start a local single-node replica set; a failure exits the command with its message."""
    if port is None:
        # MongoDB's own default port first, so code written for `mongodb://localhost:27017`
        # (like the seeds' quick starts) reaches this server unchanged.
        port = MONGODB_DEFAULT_PORT if is_port_free(MONGODB_DEFAULT_PORT) else None
        if port is None:
            typer.echo(f"Port {MONGODB_DEFAULT_PORT} is taken; using another free port.")
    server = LocalMongod(mongod_path=mongod_path, data_dir=data_dir, port=port)
    try:
        server.start()
    except EmbeddedMongoError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    return server


@contextmanager
def local_mongod(
    port: int | None = None,
    data_dir: Path = DEFAULT_DATA_DIR,
    mongod_path: Path | None = None,
) -> Iterator[LocalMongod]:
    """A started local mongod whose address other commands can find until it stops."""
    server = start_local_mongod(port, data_dir, mongod_path)
    uri_file = data_dir.parent / _URI_FILE
    try:
        uri_file.write_text(server.uri + "\n", encoding="utf-8")
        yield server
    finally:
        with suppress(FileNotFoundError):
            uri_file.unlink()
        server.stop()


@contextmanager
def mongo_uri_or_local(mongo_uri: str | None, data_dir: Path = DEFAULT_DATA_DIR) -> Iterator[str]:
    """The MongoDB URI a command should use; starts (and afterwards stops) the local mongod
    only when nothing is configured and none is running for this folder."""
    uri = mongo_uri or os.environ.get(ENV_MONGO_URI)
    if uri:
        yield uri
        return
    running = _running_local_uri(data_dir.parent / _URI_FILE)
    if running is not None:
        yield running
        return
    started = False
    try:
        with local_mongod(data_dir=data_dir) as server:
            started = True
            typer.echo(f"Started a local MongoDB at {server.uri} (data in {data_dir.parent}/)")
            yield server.uri
    finally:
        if started:
            typer.echo("Local MongoDB stopped.")


def _running_local_uri(uri_file: Path) -> str | None:
    try:
        uri = uri_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=1000)
    try:
        client.admin.command("ping")
    except PyMongoError:
        return None  # left behind by a mongod that is gone
    finally:
        client.close()
    return uri


def is_port_free(port: int) -> bool:
    """Whether nothing listens on ``port`` of the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ensure_secret_key() -> None:
    """Apps with users need a signing secret shared by every worker: the environment's, else
    one kept in .mdb_engine/secret_key (created on first use, readable by the owner only)."""
    if os.environ.get(ENV_SECRET_KEY) or os.environ.get(LEGACY_ENV_SECRET_KEY):
        return
    secret_file = LOCAL_STATE_DIR / _SECRET_FILE
    if not secret_file.exists():
        LOCAL_STATE_DIR.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        typer.echo(f"Created a secret key for tokens in {secret_file} (set {ENV_SECRET_KEY} to")
        typer.echo("  use your own; keep the file private).")
    os.environ[ENV_SECRET_KEY] = secret_file.read_text(encoding="utf-8").strip()
