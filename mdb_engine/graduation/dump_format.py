"""mongodump's directory layout, file by file: BSON data files and ``.metadata.json`` files.

``DIR/<database>/<collection>.bson`` holds the documents, one BSON document after another;
``DIR/<database>/<collection>.metadata.json`` holds, in canonical Extended JSON, the
collection's ``options``, its ``indexes`` as ``listIndexes`` returns them, its ``uuid`` (hex),
``collectionName`` and ``type`` (what mongodump 100.x writes and mongorestore reads).
Blocking file I/O: call these from a thread in async code.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson import json_util
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.errors import InvalidBSON
from bson.json_util import CANONICAL_JSON_OPTIONS

from mdb_engine.errors import DumpError

__all__ = [
    "BSON_SUFFIX",
    "EXPORT_INFO_FILE",
    "MANIFEST_FILE",
    "MAX_DOCUMENT_SIZE",
    "METADATA_SUFFIX",
    "CollectionMetadata",
    "bson_file_name",
    "collection_from_file_name",
    "decode_metadata",
    "encode_metadata",
    "iter_bson_file",
    "metadata_file_name",
    "read_json_object",
]

BSON_SUFFIX = ".bson"
METADATA_SUFFIX = ".metadata.json"
# Top-level files of an engine export; mongorestore skips top-level files it does not know
# ("don't know what to do with file ..., skipping...").
MANIFEST_FILE = "manifest.json"
EXPORT_INFO_FILE = "mdb_engine_export.json"
# The largest document the server itself stores (16 MiB plus its internal headroom).
MAX_DOCUMENT_SIZE = 16 * 1024 * 1024 + 16 * 1024

_COLLECTION_TYPES = frozenset({"collection", "view", "timeseries"})
# Decodes anything the server can store, only to prove that a document is well-formed.
_CHECK_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
    unicode_decode_error_handler="surrogateescape",
)
_DAMAGED_HINT = (
    "the file is damaged or was cut off while being written or copied; "
    "export the app again, or copy the complete dump"
)


@dataclass(frozen=True)
class CollectionMetadata:
    """One ``.metadata.json``: a collection's name, creation options, indexes, uuid and type."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    indexes: tuple[Mapping[str, Any], ...] = ()
    uuid: str | None = None
    type: str = "collection"

    @property
    def is_view(self) -> bool:
        """Whether this is a view (no documents of its own)."""
        return self.type == "view"

    @property
    def is_timeseries(self) -> bool:
        """Whether this is a time-series collection."""
        return self.type == "timeseries"


def bson_file_name(collection: str) -> str:
    """The data file name of ``collection`` (escaped as mongodump does)."""
    return _escape(collection) + BSON_SUFFIX


def metadata_file_name(collection: str) -> str:
    """The metadata file name of ``collection`` (escaped as mongodump does)."""
    return _escape(collection) + METADATA_SUFFIX


def collection_from_file_name(file_name: str) -> tuple[str, str] | None:
    """``(collection, "bson" | "metadata")`` for a dump file name, ``None`` for any other."""
    for suffix, kind in ((METADATA_SUFFIX, "metadata"), (BSON_SUFFIX, "bson")):
        if file_name.endswith(suffix) and len(file_name) > len(suffix):
            return urllib.parse.unquote(file_name[: -len(suffix)], errors="strict"), kind
    return None


def encode_metadata(metadata: CollectionMetadata) -> str:
    """The ``.metadata.json`` text, in mongodump's key order and canonical Extended JSON."""
    document: dict[str, Any] = {}
    if metadata.options:  # mongodump leaves out empty options
        document["options"] = dict(metadata.options)
    document["indexes"] = [dict(index) for index in metadata.indexes]
    if metadata.uuid:
        document["uuid"] = metadata.uuid
    document["collectionName"] = metadata.name
    document["type"] = metadata.type
    return json_util.dumps(document, json_options=CANONICAL_JSON_OPTIONS, separators=(",", ":"))


def decode_metadata(text: str, path: str, expected_name: str) -> CollectionMetadata:
    """Parse a ``.metadata.json`` (canonical or relaxed Extended JSON); ``DumpError`` if invalid."""
    hint = "restore the file from the original dump, or export the app again"
    try:
        document = json_util.loads(text) if text.strip() else {}
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise DumpError(path, f"not valid Extended JSON: {exc}", hint) from None
    if not isinstance(document, dict):
        raise DumpError(path, "the metadata is not a JSON object", hint)
    name = document.get("collectionName", expected_name)
    if name != expected_name:
        raise DumpError(
            path, f"collectionName {name!r} does not match the file name ({expected_name!r})", hint
        )
    options = document.get("options", {})
    if not isinstance(options, dict):
        raise DumpError(path, "'options' is not an object", hint)
    indexes = document.get("indexes", [])
    if not isinstance(indexes, list):
        raise DumpError(path, "'indexes' is not an array", hint)
    for position, index in enumerate(indexes):
        problem = _index_problem(index)
        if problem:
            raise DumpError(path, f"indexes[{position}] {problem}", hint)
    uuid = document.get("uuid")
    if uuid is not None and not isinstance(uuid, str):
        raise DumpError(path, "'uuid' is not a string", hint)
    kind = document.get("type") or _type_from_options(options)
    if kind not in _COLLECTION_TYPES:
        raise DumpError(path, f"unknown collection type {kind!r}", hint)
    return CollectionMetadata(name, options, tuple(indexes), uuid, kind)


def iter_bson_file(path: Path) -> Generator[bytes, None, None]:
    """The raw documents of a ``.bson`` file, each checked to be complete and well-formed.

    Raises ``DumpError`` naming the document and its byte offset at the first problem, so a
    truncated or corrupt file is detected by reading it, before anything is written.
    """
    with path.open("rb") as file:
        offset = 0
        number = 0
        while True:
            header = file.read(4)
            if not header:
                return
            number += 1
            where = f"document #{number} at byte {offset}"
            if len(header) < 4:
                raise DumpError(
                    str(path), f"{where} is cut off after {len(header)} byte(s)", _DAMAGED_HINT
                )
            size = int.from_bytes(header, "little", signed=True)
            if size < 5 or size > MAX_DOCUMENT_SIZE:
                raise DumpError(
                    str(path), f"{where} declares an impossible size ({size} bytes)", _DAMAGED_HINT
                )
            body = file.read(size - 4)
            if len(body) < size - 4:
                raise DumpError(
                    str(path),
                    f"{where} is cut off: it declares {size} bytes, the file holds {len(body) + 4}",
                    _DAMAGED_HINT,
                )
            raw = header + body
            try:
                bson.decode(raw, _CHECK_OPTIONS)
            except (InvalidBSON, ValueError, OverflowError) as exc:
                raise DumpError(
                    str(path), f"{where} is not valid BSON: {exc}", _DAMAGED_HINT
                ) from None
            offset += size
            yield raw


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A small top-level JSON file (``manifest.json``, the export info) as a dict."""
    hint = f"restore {path.name} from the original export, or remove it to import without {what}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DumpError(str(path), f"cannot be read as JSON: {exc}", hint) from None
    if not isinstance(document, dict):
        raise DumpError(str(path), "is not a JSON object", hint)
    return document


def _index_problem(index: Any) -> str | None:
    if not isinstance(index, dict):
        return "is not an object"
    key = index.get("key")
    if not isinstance(key, dict) or not key:
        return "has no 'key' object"
    if not isinstance(index.get("name"), str) or not index["name"]:
        return "has no 'name'"
    return None


def _type_from_options(options: Mapping[str, Any]) -> str:
    # Metadata written before mongodump recorded "type".
    if "viewOn" in options:
        return "view"
    if "timeseries" in options:
        return "timeseries"
    return "collection"


def _escape(collection: str) -> str:
    # mongodump escapes names with Go's url.PathEscape; quote() with these safe characters
    # escapes the same set.
    return urllib.parse.quote(collection, safe="$&+:=@")
