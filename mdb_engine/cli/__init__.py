"""The ``mdb-engine`` command line."""

from __future__ import annotations

from mdb_engine.cli.app import app, main

__all__ = ["app", "main"]
