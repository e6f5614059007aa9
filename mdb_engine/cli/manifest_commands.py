"""``mdb-engine validate`` and ``mdb-engine schema``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import typer

from mdb_engine.core.manifest import load_manifest_file, manifest_json_schema
from mdb_engine.errors import ManifestError

__all__ = ["schema", "validate"]


def validate(
    paths: Annotated[list[Path], typer.Argument(help="manifest.json files to check.")],
) -> None:
    """Check manifests; print every problem with its JSON path. Exit 1 if any is invalid."""
    failed = 0
    for path in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                manifest = load_manifest_file(path)
            except ManifestError as exc:
                failed += 1
                typer.secho(f"✗ {path}", fg=typer.colors.RED, err=True)
                for problem in exc.problems:
                    typer.echo(f"    {problem}", err=True)
                continue
        typer.secho(f"✓ {path}: app {manifest.slug!r} is valid", fg=typer.colors.GREEN)
        for warning in caught:
            typer.echo(f"    note: {warning.message}")
    if failed:
        typer.echo(f"{failed} of {len(paths)} manifest(s) invalid", err=True)
        raise typer.Exit(code=1)


def schema() -> None:
    """Print the manifest's JSON Schema (for editors and CI checks)."""
    typer.echo(json.dumps(manifest_json_schema(), indent=2))
