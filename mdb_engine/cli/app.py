"""The ``mdb-engine`` command: the Typer application and its global options."""

from __future__ import annotations

from typing import Annotated

import typer

from mdb_engine._version import __version__
from mdb_engine.cli import (
    admin_commands,
    graduation_commands,
    host_commands,
    index_commands,
    manifest_commands,
    server_commands,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="mdb-engine",
    help="The missing engine for Python and MongoDB projects.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("validate")(manifest_commands.validate)
app.command("schema")(manifest_commands.schema)
app.command("mongod")(server_commands.mongod)
app.command("run")(server_commands.run)
app.command("serve")(host_commands.serve)
app.command("new")(host_commands.new)
app.command("export")(graduation_commands.export)
app.command("import")(graduation_commands.import_dump)
app.add_typer(index_commands.app)
app.add_typer(admin_commands.app)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mdb-engine {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """The missing engine for Python and MongoDB projects."""


def main() -> None:
    """Entry point of the ``mdb-engine`` console script."""
    app()
