"""``mdb-engine serve APPS_DIR`` (many apps, one engine) and ``mdb-engine new SLUG``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from mdb_engine.cli._local import LOCAL_STATE_DIR, ensure_secret_key, mongo_uri_or_local
from mdb_engine.core.config import ENV_DB_NAME, ENV_MONGO_URI
from mdb_engine.errors import ConfigurationError
from mdb_engine.host.asgi import ENV_APPS_DIR
from mdb_engine.host.discovery import discover_app_folders
from mdb_engine.host.scaffold import scaffold_app

__all__ = ["new", "serve"]

_FACTORY = "mdb_engine.host.asgi:create_app_from_environment"


def serve(
    apps_dir: Annotated[
        Path, typer.Argument(help="Folder whose subfolders each hold a manifest.json.")
    ],
    mongo_uri: Annotated[
        str | None,
        typer.Option(help=f"MongoDB to use (default: ${ENV_MONGO_URI}, else a local mongod)."),
    ] = None,
    db: Annotated[
        str | None, typer.Option(help=f"Database the apps share (default: ${ENV_DB_NAME}).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (they share state through MongoDB).")
    ] = 1,
    reload: Annotated[
        bool, typer.Option(help="Restart when a manifest or an app's code changes.")
    ] = False,
) -> None:
    """Serve every app of APPS_DIR under /apps/<slug>, with the admin console at /admin."""
    import uvicorn

    if reload and workers > 1:
        _fail("--reload serves from one process: use it without --workers")
    try:
        folders = discover_app_folders(apps_dir)
    except ConfigurationError as exc:
        _fail(str(exc))
    if not folders:
        typer.echo(f"No app folders in {apps_dir} yet: create one with `mdb-engine new SLUG`.")
    ensure_secret_key()
    with mongo_uri_or_local(mongo_uri) as uri:
        os.environ[ENV_MONGO_URI] = uri
        if db:
            os.environ[ENV_DB_NAME] = db
        os.environ[ENV_APPS_DIR] = str(apps_dir.resolve())
        base = f"http://{host}:{port}"
        typer.echo(f"Serving {len(folders)} app folder(s) from {apps_dir} at {base}/apps/<slug>/")
        typer.echo(f"Admin console: {base}/admin/ (account: `mdb-engine admin create-user`)")
        uvicorn.run(
            _FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            reload=reload,
            reload_dirs=[str(apps_dir)] if reload else None,
            reload_includes=["*.py", "*.json"] if reload else None,
            reload_excludes=[f"{LOCAL_STATE_DIR}/*"] if reload else None,
        )


def new(
    slug: Annotated[str, typer.Argument(help="The new app's slug, e.g. my_notes.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder to create the app in (your APPS_DIR).")
    ] = Path("."),
    name: Annotated[str | None, typer.Option(help="Display name (default: from the slug).")] = None,
) -> None:
    """Create a working app: SLUG/manifest.json, SLUG/app.py and SLUG/test_app.py."""
    try:
        folder = scaffold_app(slug, directory, name=name)
    except ConfigurationError as exc:
        _fail(str(exc))
    typer.echo(f"Created {folder}/ with manifest.json, app.py and test_app.py.")
    typer.echo(f"  serve it:  mdb-engine serve {directory}   (then open /apps/{slug}/)")
    typer.echo(f"  test it:   pytest {folder}")


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)
