"""Reading a manifest file: its JSON, with what is wrong with the file said at ``$``.

Beyond what ``json.loads`` refuses, a key that appears twice in one object is refused (JSON
parsers silently keep the last value, so half of what was written would be ignored), and
input nested too deeply to parse, or with an integer too long to convert, is a ManifestError
rather than a traceback.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

from mdb_engine.core.manifest.fields import Location, render_path
from mdb_engine.errors import ManifestError, ManifestProblem

__all__ = ["MAX_DEPTH", "read_json_file"]

# How deep a manifest may nest objects and arrays (MongoDB stores documents up to 180 levels).
MAX_DEPTH = 100


class _DuplicateKeys(dict[str, Any]):
    """A JSON object of a file in which a key appeared twice (JSON parsers silently keep the
    last value); every other object is read as a plain ``dict``."""

    duplicated: str = ""


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    read = dict(pairs)
    if len(read) == len(pairs):
        return read
    keys = [key for key, _ in pairs]
    marked = _DuplicateKeys(read)
    marked.duplicated = next(key for index, key in enumerate(keys) if key in keys[:index])
    return marked


def _first_duplicate(data: Any) -> Location | None:
    """The path of the first key that appeared twice in one object of ``data``, or ``None``
    (walked breadth first, without recursion)."""
    pending: deque[tuple[Location, Any]] = deque([((), data)])
    while pending:
        location, value = pending.popleft()
        if isinstance(value, _DuplicateKeys):
            return (*location, value.duplicated)
        if isinstance(value, dict):
            pending.extend(((*location, key), child) for key, child in value.items())
        elif isinstance(value, list):
            pending.extend(((*location, index), child) for index, child in enumerate(value))
    return None


def read_json_file(path: Path, source: str) -> Any:
    """The JSON value of the manifest file ``path``, or a ManifestError at ``$`` saying what
    is wrong with the file (``source`` names it in messages)."""

    def fail(message: str, hint: str | None = None) -> ManifestError:
        return ManifestError([ManifestProblem("$", message, hint)], source)

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise fail(f"the file {source!r} does not exist", "check the path") from None
    except IsADirectoryError:
        raise fail(f"{source!r} is a directory", f"use {str(path / 'manifest.json')!r}") from None
    except UnicodeDecodeError as error:
        raise fail(f"the file is not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise fail(f"the file cannot be read: {error.strerror or error}") from None
    try:
        data = json.loads(text, object_pairs_hook=_json_object)
    except RecursionError:
        raise fail(
            f"the JSON is nested too deeply to read (a manifest allows {MAX_DEPTH} levels)"
        ) from None
    except json.JSONDecodeError as error:
        hint = None
        if error.msg.startswith(("Expecting property name", "Expecting value")):
            hint = "JSON allows no trailing commas, comments or single quotes"
        raise fail(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}", hint
        ) from None
    except ValueError as error:  # an integer of more than 4,300 digits
        raise fail(f"invalid JSON: {error}".split(";")[0]) from None
    duplicate = _first_duplicate(data)
    if duplicate is not None:
        raise ManifestError(
            [
                ManifestProblem(
                    render_path(duplicate),
                    f"the key {duplicate[-1]!r} appears twice in one object",
                    "JSON keeps only the last value; remove one",
                )
            ],
            source,
        )
    return data
