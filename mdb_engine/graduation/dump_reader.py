"""Read and check a whole dump directory before anything is written (blocking: use a thread).

Every ``.bson`` file is read to its end and every document decoded, every ``.metadata.json``
parsed and every collection name checked, so that a damaged dump is refused up front with the
file, the problem and the way out.

Layouts understood:

- an engine export: ``mdb_engine_export.json`` says which app it holds and whether the names
  carry the ``<slug>_`` prefix;
- any other mongodump directory: with ``source_slug`` only the collections named
  ``<source_slug>_*`` are taken and their prefix is removed (what the seed's
  ``mongodump --query='{"app_id": ...}'`` produces); without it, every collection is taken
  under its own name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdb_engine.database.names import collection_name_problem, is_valid_slug
from mdb_engine.database.scope import APP_ID_FIELD
from mdb_engine.errors import DumpError
from mdb_engine.graduation.dump_format import (
    EXPORT_INFO_FILE,
    MANIFEST_FILE,
    CollectionMetadata,
    collection_from_file_name,
    decode_metadata,
    iter_bson_file,
    read_json_object,
)
from mdb_engine.graduation.raw_bson import get_field

__all__ = ["EXPORT_FORMAT", "Dump", "DumpCollection", "read_dump"]

EXPORT_FORMAT = "mdb-engine-export/1"


@dataclass(frozen=True)
class DumpCollection:
    """One collection of a dump: its name for the app, its name in the dump, its files."""

    name: str
    stored_name: str
    metadata: CollectionMetadata
    bson_path: Path | None
    document_count: int
    size_bytes: int


@dataclass(frozen=True)
class Dump:
    """A checked dump: which database and app it holds and the collections to load."""

    root: Path
    database: str
    source_slug: str | None
    is_prefixed: bool
    manifest: Mapping[str, Any] | None
    collections: tuple[DumpCollection, ...]
    skipped: tuple[str, ...]


def read_dump(root: Path, *, source_slug: str | None = None, source_db: str | None = None) -> Dump:
    """Check the dump at ``root`` from end to end; ``DumpError`` at the first problem."""
    if not root.is_dir():
        raise DumpError(str(root), "is not a directory", "give the directory the export wrote")
    info = _export_info(root)
    slug, is_prefixed = _source(root, info, source_slug)
    manifest_path = root / MANIFEST_FILE
    manifest = read_json_object(manifest_path, "its manifest") if manifest_path.is_file() else None
    database = _database_dir(root, info, source_db)
    skipped: list[str] = []
    files = _collection_files(root / database, skipped)
    collections: list[DumpCollection] = []
    for stored_name in sorted(files):
        bson_path, metadata_path = files[stored_name]
        name = _logical_name(stored_name, slug, is_prefixed)
        if name is None:
            skipped.append(f"{database}.{stored_name}: not a collection of app {slug!r}")
            continue
        where = str(bson_path or metadata_path)
        problem = collection_name_problem(name)
        if problem:
            raise DumpError(
                where,
                f"collection name {name!r} {problem}",
                "an app's collections need plain names; if the names carry an app prefix, "
                "pass the app's slug as --source-slug",
            )
        metadata = (
            decode_metadata(
                metadata_path.read_text(encoding="utf-8"), str(metadata_path), stored_name
            )
            if metadata_path is not None
            else CollectionMetadata(stored_name)
        )
        if metadata.is_view:
            skipped.append(f"{database}.{stored_name}: a view (views are not imported)")
            continue
        if metadata.is_timeseries:
            raise DumpError(
                where,
                "is a time-series collection, which this import does not load",
                "restore it with mongorestore, or leave its files out of the dump",
            )
        count, size = _check_documents(bson_path, slug if is_prefixed or info else None)
        collections.append(DumpCollection(name, stored_name, metadata, bson_path, count, size))
    if not collections:
        raise DumpError(
            str(root / database),
            "holds no collection to import"
            + (f" (skipped: {'; '.join(skipped)})" if skipped else ""),
            "check the directory and --source-slug",
        )
    return Dump(root, database, slug, is_prefixed, manifest, tuple(collections), tuple(skipped))


def _export_info(root: Path) -> Mapping[str, Any] | None:
    path = root / EXPORT_INFO_FILE
    if not path.is_file():
        return None
    info = read_json_object(path, "the export's description")
    hint = "restore the file from the original export"
    if info.get("format") != EXPORT_FORMAT:
        raise DumpError(str(path), f"unknown format {info.get('format')!r}", hint)
    if not is_valid_slug(info.get("slug")) or not isinstance(info.get("database"), str):
        raise DumpError(str(path), "has no valid 'slug' and 'database'", hint)
    if not isinstance(info.get("strip_prefix"), bool):
        raise DumpError(str(path), "has no 'strip_prefix' true or false", hint)
    return info


def _source(
    root: Path, info: Mapping[str, Any] | None, source_slug: str | None
) -> tuple[str | None, bool]:
    """The app the dump holds (if known) and whether its collection names carry its prefix."""
    if source_slug is not None and not is_valid_slug(source_slug):
        raise DumpError(
            str(root), f"{source_slug!r} is not a valid app slug", "check --source-slug"
        )
    if info is None:
        return source_slug, source_slug is not None
    if source_slug is not None and source_slug != info["slug"]:
        raise DumpError(
            str(root / EXPORT_INFO_FILE),
            f"this is an export of app {info['slug']!r}, not {source_slug!r}",
            "leave out --source-slug for an engine export",
        )
    return str(info["slug"]), not info["strip_prefix"]


def _database_dir(root: Path, info: Mapping[str, Any] | None, source_db: str | None) -> str:
    databases = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
    wanted = source_db or (str(info["database"]) if info else None)
    if wanted is not None:
        if wanted not in databases:
            raise DumpError(
                str(root),
                f"has no database directory {wanted!r} (found: {', '.join(databases) or 'none'})",
                "check --source-db, or give the directory the export wrote",
            )
        return wanted
    if len(databases) != 1:
        raise DumpError(
            str(root),
            f"holds {len(databases)} database directories ({', '.join(databases) or 'none'})",
            "pass --source-db NAME to choose one" if databases else "is this a mongodump output?",
        )
    return databases[0]


def _collection_files(
    directory: Path, skipped: list[str]
) -> dict[str, tuple[Path | None, Path | None]]:
    """Collection name -> (its .bson file, its .metadata.json file), either may be missing."""
    files: dict[str, tuple[Path | None, Path | None]] = {}
    for entry in sorted(directory.iterdir()):
        parsed = collection_from_file_name(entry.name) if entry.is_file() else None
        if parsed is None:
            skipped.append(f"{entry}: not a dump file")
            continue
        name, kind = parsed
        if name.startswith("system."):
            skipped.append(f"{entry}: a system collection")
            continue
        bson_path, metadata_path = files.get(name, (None, None))
        files[name] = (entry, metadata_path) if kind == "bson" else (bson_path, entry)
    return files


def _logical_name(stored_name: str, slug: str | None, is_prefixed: bool) -> str | None:
    if not is_prefixed:
        return stored_name
    prefix = f"{slug}_"
    return stored_name[len(prefix) :] if stored_name.startswith(prefix) else None


def _check_documents(path: Path | None, slug: str | None) -> tuple[int, int]:
    """How many documents and bytes the file holds, all checked; with ``slug``, every
    ``app_id`` present must be that app's."""
    if path is None:
        return 0, 0
    count = size = 0
    for raw in iter_bson_file(path):
        count += 1
        size += len(raw)
        if slug is None:
            continue
        has_app_id, app_id = get_field(raw, APP_ID_FIELD)
        if has_app_id and app_id != slug:
            raise DumpError(
                str(path),
                f"document #{count} has {APP_ID_FIELD} {app_id!r}, not {slug!r}: "
                "the file mixes apps' data",
                "export the app again with `mdb-engine export`",
            )
    return count, size
