"""Print the manifest JSON Schema, or rewrite the copy shipped in the package.

Usage: ``python -m mdb_engine.core.manifest [--write]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mdb_engine.core.manifest.models import manifest_json_schema

SCHEMA_FILE = Path(__file__).with_name("schema.json")


def render_schema() -> str:
    """The schema as the text stored in ``schema.json``."""
    return json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m mdb_engine.core.manifest``."""
    parser = argparse.ArgumentParser(
        prog="python -m mdb_engine.core.manifest",
        description="Print the manifest JSON Schema (schema 2.0).",
    )
    parser.add_argument(
        "--write", action="store_true", help=f"rewrite {SCHEMA_FILE} instead of printing"
    )
    arguments = parser.parse_args(argv)
    text = render_schema()
    if arguments.write:
        SCHEMA_FILE.write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {SCHEMA_FILE}\n")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
