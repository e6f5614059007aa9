"""Write the generated reference documents: docs/manifest-reference.md and docs/api.md.

    .venv/bin/python docs/generate.py                  # rewrite both documents
    .venv/bin/python docs/generate.py --check          # exit 1 if either is out of date
    .venv/bin/python docs/generate.py --list-missing   # schema descriptions, docstrings to add

Run it from anywhere; it writes beside itself.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DOCS = Path(__file__).resolve().parent
if str(DOCS) not in sys.path:  # when imported (by the tests) rather than run as a script
    sys.path.insert(0, str(DOCS))

from _generate.api_reference import missing_docstrings, render_api_reference  # noqa: E402
from _generate.manifest_reference import (  # noqa: E402
    missing_descriptions,
    render_manifest_reference,
)

COMMAND = ".venv/bin/python docs/generate.py"
DOCUMENTS: dict[str, Callable[[], str]] = {
    "manifest-reference.md": render_manifest_reference,
    "api.md": render_api_reference,
}


def ruff_formatted(path: Path, text: str) -> str:
    """``text`` as ``ruff format`` leaves it: CI formats the Python blocks of Markdown too."""
    command = [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(path), "-"]
    try:
        done = subprocess.run(
            command, input=text, capture_output=True, text=True, check=True, cwd=DOCS.parent
        )
    except (OSError, subprocess.CalledProcessError) as error:
        details = getattr(error, "stderr", "") or error
        raise SystemExit(
            f"ruff could not format {path.name} (install the dev extra): {details}"
        ) from error
    return done.stdout


def generate() -> dict[Path, str]:
    """Each generated document's path and its fresh content."""
    return {
        DOCS / name: ruff_formatted(DOCS / name, render()) for name, render in DOCUMENTS.items()
    }


def stale_documents(documents: dict[Path, str]) -> list[Path]:
    return [
        path
        for path, text in documents.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a document is stale")
    parser.add_argument(
        "--list-missing", action="store_true", help="list fields and names without docs"
    )
    arguments = parser.parse_args(argv)
    if arguments.list_missing:
        sys.stdout.write("Manifest fields without a schema description:\n")
        sys.stdout.writelines(f"  {path}\n" for path in missing_descriptions())
        sys.stdout.write("Public names without a docstring:\n")
        sys.stdout.writelines(f"  {name}\n" for name in missing_docstrings())
        return 0
    documents = generate()
    stale = stale_documents(documents)
    if arguments.check:
        for path in stale:
            sys.stderr.write(f"{path.relative_to(DOCS.parent)} is out of date: run {COMMAND}\n")
        return 1 if stale else 0
    for path in stale:
        path.write_text(documents[path], encoding="utf-8")
        sys.stdout.write(f"wrote {path.relative_to(DOCS.parent)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
