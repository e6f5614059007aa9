"""``mdb-engine indexes plan|sync MANIFEST...``: declared indexes against a live database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer

from mdb_engine.core.config import ENV_DB_NAME, ENV_MONGO_URI
from mdb_engine.core.engine import MongoDBEngine
from mdb_engine.core.manifest import AppManifest, load_manifest_file
from mdb_engine.errors import MDBEngineError
from mdb_engine.indexes import render_plan, render_sync_result

__all__ = ["app"]

app = typer.Typer(
    name="indexes",
    help="Compare the indexes manifests declare with a database, and sync them.",
    no_args_is_help=True,
)

Manifests = Annotated[list[Path], typer.Argument(help="manifest.json files.")]
MongoUri = Annotated[
    str | None,
    typer.Option(help=f"MongoDB to use (default: ${ENV_MONGO_URI}, else localhost:27017)."),
]
DbName = Annotated[
    str | None, typer.Option("--db", help=f"Database (default: ${ENV_DB_NAME}, else mdb_engine).")
]


@app.command("plan")
def plan(manifests: Manifests, mongo_uri: MongoUri = None, db: DbName = None) -> None:
    """Show what `sync` would do to each declared index, without changing anything."""
    loaded = _load(manifests)

    async def _plan(engine: MongoDBEngine) -> None:
        for manifest in loaded:
            typer.echo(render_plan(await engine.plan_indexes(manifest)))

    _run(_plan, mongo_uri, db)


@app.command("sync")
def sync(
    manifests: Manifests,
    mongo_uri: MongoUri = None,
    db: DbName = None,
    prune: Annotated[
        bool, typer.Option(help="Drop indexes that exist but are not declared.")
    ] = False,
    recreate: Annotated[
        bool, typer.Option(help="Drop and rebuild indexes that conflict with the declaration.")
    ] = False,
) -> None:
    """Create missing indexes, change TTLs in place; refuse conflicts unless --recreate."""
    loaded = _load(manifests)

    async def _sync(engine: MongoDBEngine) -> None:
        for manifest in loaded:
            result = await engine.sync_indexes(
                manifest, prune=prune, on_conflict="recreate" if recreate else "error"
            )
            typer.echo(render_sync_result(result))

    _run(_sync, mongo_uri, db)


def _load(paths: list[Path]) -> list[AppManifest]:
    manifests: list[AppManifest] = []
    for path in paths:
        try:
            manifests.append(load_manifest_file(path))
        except MDBEngineError as exc:
            typer.secho(f"✗ {path}: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=1) from None
    return manifests


def _run(
    action: Callable[[MongoDBEngine], Awaitable[None]], mongo_uri: str | None, db: str | None
) -> None:
    async def _main() -> None:
        async with MongoDBEngine(mongo_uri, db) as engine:
            await action(engine)

    try:
        asyncio.run(_main())
    except MDBEngineError as exc:  # conflicts, an unreachable server, a bad setting
        typer.secho(f"✗ {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
