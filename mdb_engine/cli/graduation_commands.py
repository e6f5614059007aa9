"""``mdb-engine export`` and ``mdb-engine import``: an app as a mongodump directory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from mdb_engine.cli._local import mongo_uri_or_local
from mdb_engine.core.config import ENV_DB_NAME, ENV_MONGO_URI, redact_uri, resolve_settings
from mdb_engine.core.engine import MongoDBEngine
from mdb_engine.errors import MDBEngineError
from mdb_engine.graduation import (
    ExportResult,
    ImportResult,
    export_app,
    import_app,
    import_plain,
)

__all__ = ["export", "import_dump"]

_T = TypeVar("_T")

MongoUri = Annotated[
    str | None,
    typer.Option(
        help=f"MongoDB to use (default: ${ENV_MONGO_URI}, else the local mongod of this folder)."
    ),
]
SourceSlug = Annotated[
    str | None,
    typer.Option(
        help="For a dump made with mongodump: the app whose <slug>_* collections to take."
    ),
]
SourceDb = Annotated[
    str | None,
    typer.Option(help="The database directory of the dump to read, when it holds several."),
]


def export(
    slug: Annotated[str, typer.Argument(help="The app to export.")],
    out: Annotated[Path, typer.Option("--out", help="New directory to write the dump to.")],
    strip_prefix: Annotated[
        bool,
        typer.Option(
            "--strip-prefix",
            help="Write a dedicated database named after the app: plain collection names, "
            "documents without app_id.",
        ),
    ] = False,
    mongo_uri: MongoUri = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help=f"The engine's database (default: ${ENV_DB_NAME}, else mdb_engine)."
        ),
    ] = None,
) -> None:
    """Write an app's collections in mongodump's layout, for mongorestore or `import`."""
    with mongo_uri_or_local(mongo_uri) as uri:
        result = _run(
            uri,
            db,
            lambda client, name: export_app(client[name], slug, out, strip_prefix=strip_prefix),
        )
    _report_export(result)


def import_dump(
    source: Annotated[Path, typer.Argument(help="The dump directory (an export or a mongodump).")],
    slug: Annotated[
        str | None, typer.Option("--slug", help="Import as this app of the engine.")
    ] = None,
    plain: Annotated[
        bool,
        typer.Option(
            "--plain",
            help="Import as plain collections (names without prefix, documents as dumped) "
            "into the database given by --db.",
        ),
    ] = False,
    mongo_uri: MongoUri = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help=f"Target database (default for --slug: ${ENV_DB_NAME}, else mdb_engine; "
            "required with --plain).",
        ),
    ] = None,
    source_slug: SourceSlug = None,
    source_db: SourceDb = None,
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register",
            help="Register the app from the dump's manifest.json (or --manifest).",
        ),
    ] = True,
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="A manifest.json to register the app with (for a dump made with mongodump)."
        ),
    ] = None,
) -> None:
    """Load a dump as an app of this engine (--slug) or as plain collections (--plain)."""
    if (slug is None) == (not plain):
        _usage("give either --slug NEW (import as an app) or --plain --db NAME")
    if plain and not db:
        _usage("--plain needs --db NAME: the database to load the collections into")
    if plain and manifest is not None:
        _usage("--manifest registers an app: use it with --slug, not --plain")
    given = _read_manifest(manifest) if manifest is not None else None

    async def load(client: AsyncMongoClient[Any], name: str, uri: str) -> ImportResult:
        if slug is None:
            return await import_plain(
                client[name], source, source_slug=source_slug, source_db=source_db
            )
        async with MongoDBEngine(uri, name) as engine:
            return await import_app(
                client[name],
                source,
                slug,
                registrar=engine if register else None,
                source_slug=source_slug,
                source_db=source_db,
                manifest=given,
            )

    with mongo_uri_or_local(mongo_uri) as uri:
        result = _run(
            uri, db, lambda client, name: load(client, name, uri), "; the import was undone"
        )
    _report_import(result)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"{path}: cannot be read as JSON: {exc}")
    if not isinstance(document, dict):
        _fail(f"{path}: is not a JSON object (a manifest)")
    return document


def _run(
    uri: str,
    db: str | None,
    action: Callable[[AsyncMongoClient[Any], str], Awaitable[_T]],
    undone: str = "",
) -> _T:
    try:
        settings = resolve_settings(
            uri, db, max_pool_size=10, min_pool_size=0, server_selection_timeout_ms=10_000
        )
    except MDBEngineError as exc:
        _fail(str(exc), code=2)

    async def main() -> _T:
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            settings.mongo_uri, serverSelectionTimeoutMS=settings.server_selection_timeout_ms
        )
        try:
            return await action(client, settings.db_name)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except MDBEngineError as exc:
        _fail(str(exc))
    except PyMongoError as exc:
        _fail(f"MongoDB at {redact_uri(settings.mongo_uri)} refused the operation: {exc}{undone}")
    except OSError as exc:
        _fail(f"file error: {exc}")


def _report_export(result: ExportResult) -> None:
    prefix = "plain names" if result.is_prefix_stripped else f"names with the {result.slug}_ prefix"
    typer.echo(
        f"Exported app {result.slug!r} to {result.directory} "
        f"(database directory {result.database!r}, {prefix}):"
    )
    for item in result.collections:
        typer.echo(
            f"  {item.name}: {item.document_count} document(s), {len(item.index_names)} "
            f"index(es) -> {result.database}/{item.stored_name}.bson"
        )
    if result.has_manifest:
        typer.echo("  manifest.json: the app's registered manifest")
    for note in result.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)
    if result.is_prefix_stripped:
        restore = (
            f"mongorestore --uri URI {result.directory}   "
            f"(into database {result.database!r}; add --nsFrom '{result.database}.*' "
            "--nsTo 'NEWDB.*' to choose another)"
        )
    else:
        restore = (
            f"mongorestore --uri URI --nsFrom '{result.database}.{result.slug}_*' "
            f"--nsTo 'NEWDB.*' {result.directory}"
        )
    typer.echo(f"Restore it elsewhere with: {restore}")


def _report_import(result: ImportResult) -> None:
    what = f"as app {result.slug!r}" if result.slug else "as plain collections"
    registered = " (registered)" if result.is_registered else ""
    typer.echo(
        f"Imported {len(result.collections)} collection(s) into database "
        f"{result.database!r} {what}{registered}:"
    )
    for item in result.collections:
        typer.echo(
            f"  {item.name} -> {item.target}: {item.document_count} document(s), "
            f"{len(item.index_names)} index(es)"
        )
    for note in result.skipped:
        typer.secho(f"skipped: {note}", fg=typer.colors.YELLOW, err=True)


def _usage(message: str) -> NoReturn:
    typer.secho(f"✗ {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"✗ {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=code)
