"""``mdb-engine mongod`` (a local MongoDB) and ``mdb-engine run`` (serve an ASGI app)."""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from mdb_engine.core.config import ENV_MONGO_URI
from mdb_engine.embedded import LocalMongod
from mdb_engine.errors import EmbeddedMongoError

__all__ = ["mongod", "run"]

MONGODB_DEFAULT_PORT = 27017
DEFAULT_DATA_DIR = Path(".mdb_engine") / "db"


def mongod(
    port: Annotated[
        int | None,
        typer.Option(help="Port to listen on (default: 27017 when free, else any free port)."),
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Where the data lives.")] = DEFAULT_DATA_DIR,
    mongod_path: Annotated[
        Path | None, typer.Option("--mongod", help="The mongod binary to run.")
    ] = None,
) -> None:
    """Run a local MongoDB (single-node replica set) in the foreground until Ctrl-C."""
    server = _start_local_mongod(port, data_dir, mongod_path)
    typer.echo(f"MongoDB is running: {server.uri}")
    typer.echo(f"  export {ENV_MONGO_URI}='{server.uri}'")
    typer.echo("Press Ctrl-C to stop.")
    stopped = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    try:
        while server.is_running and not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        crashed = not server.is_running
        server.stop()
    if crashed and not stopped.is_set():
        typer.secho("mongod exited unexpectedly; see its log in the data dir", err=True)
        raise typer.Exit(code=1)
    typer.echo("MongoDB stopped.")


def run(
    target: Annotated[str, typer.Argument(help="The ASGI app to serve, as module:attribute.")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    app_dir: Annotated[Path, typer.Option(help="Folder to import the app from.")] = Path("."),
    reload: Annotated[bool, typer.Option(help="Restart when the code changes.")] = False,
    mongo_uri: Annotated[
        str | None,
        typer.Option(help=f"MongoDB to use (default: ${ENV_MONGO_URI}, else a local mongod)."),
    ] = None,
) -> None:
    """Serve an ASGI app (such as ``main:app``) with uvicorn, on a local MongoDB if needed."""
    import uvicorn

    uri = mongo_uri or os.environ.get(ENV_MONGO_URI)
    server: LocalMongod | None = None
    if not uri:
        server = _start_local_mongod(None, DEFAULT_DATA_DIR, None)
        uri = server.uri
        typer.echo(f"Started a local MongoDB at {uri} (data in {DEFAULT_DATA_DIR.parent}/)")
    os.environ[ENV_MONGO_URI] = uri
    try:
        uvicorn.run(target, host=host, port=port, app_dir=str(app_dir), reload=reload)
    finally:
        if server is not None:
            server.stop()
            typer.echo("Local MongoDB stopped.")


def _start_local_mongod(port: int | None, data_dir: Path, mongod_path: Path | None) -> LocalMongod:
    if port is None:
        # MongoDB's own default port first, so code written for `mongodb://localhost:27017`
        # (like the seeds' quick starts) reaches this server unchanged.
        port = MONGODB_DEFAULT_PORT if _is_port_free(MONGODB_DEFAULT_PORT) else None
        if port is None:
            typer.echo(f"Port {MONGODB_DEFAULT_PORT} is taken; using another free port.")
    server = LocalMongod(mongod_path=mongod_path, data_dir=data_dir, port=port)
    try:
        server.start()
    except EmbeddedMongoError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    return server


def _is_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
