"""``mdb-engine mongod`` (a local MongoDB) and ``mdb-engine run`` (serve an ASGI app)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from mdb_engine.cli._local import (
    DEFAULT_DATA_DIR,
    ensure_secret_key,
    local_mongod,
    mongo_uri_or_local,
)
from mdb_engine.core.config import ENV_MONGO_URI

__all__ = ["mongod", "run"]


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
    stopped = threading.Event()
    crashed = False
    with local_mongod(port, data_dir, mongod_path) as server:
        typer.echo(f"MongoDB is running: {server.uri}")
        typer.echo(f"  export {ENV_MONGO_URI}='{server.uri}'")
        typer.echo("Press Ctrl-C to stop.")

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
    """Serve an ASGI app (such as ``main:app``) with uvicorn, on a local MongoDB if needed, with
    a signing secret for tokens ($MDB_ENGINE_SECRET_KEY, else one kept in .mdb_engine/)."""
    import uvicorn

    ensure_secret_key()
    with mongo_uri_or_local(mongo_uri) as uri:
        os.environ[ENV_MONGO_URI] = uri
        uvicorn.run(target, host=host, port=port, app_dir=str(app_dir), reload=reload)
