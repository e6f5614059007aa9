"""Export one app to a mongodump directory, reading through its scoped database.

The documents are read with the app's own scope (``app_id`` equal to its slug), the collections
are the app's ``<slug>_*`` ones; engine collections and other apps' data are never read. The
directory is written under a temporary name beside ``out_dir`` and renamed into place once
complete, so a failed export leaves nothing that looks like a dump.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.database import AsyncDatabase

from mdb_engine._version import __version__
from mdb_engine.core.registry_store import RegistryStore
from mdb_engine.database import ScopedDatabase
from mdb_engine.database.names import (
    find_slug_collision,
    is_valid_slug,
    logical_name,
    scope_collection_filter,
)
from mdb_engine.database.scope import APP_ID_FIELD
from mdb_engine.errors import GraduationError
from mdb_engine.graduation.dump_format import (
    EXPORT_INFO_FILE,
    MANIFEST_FILE,
    CollectionMetadata,
    bson_file_name,
    encode_metadata,
    metadata_file_name,
)
from mdb_engine.graduation.dump_reader import EXPORT_FORMAT
from mdb_engine.graduation.raw_bson import without_field
from mdb_engine.graduation.strip import strip_app_id_from_indexes

__all__ = ["ExportResult", "ExportedCollection", "export_app"]

logger = logging.getLogger(__name__)

_RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
_FLUSH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ExportedCollection:
    """One collection written: the app's name for it, its name in the dump, what it holds."""

    name: str
    stored_name: str
    document_count: int
    index_names: tuple[str, ...]


@dataclass(frozen=True)
class ExportResult:
    """What ``export_app`` wrote: ``directory/database/<stored_name>.bson`` per collection."""

    slug: str
    directory: Path
    database: str
    is_prefix_stripped: bool
    has_manifest: bool
    collections: tuple[ExportedCollection, ...]
    notes: tuple[str, ...]


async def export_app(
    database: AsyncDatabase[Any],
    slug: str,
    out_dir: str | Path,
    *,
    strip_prefix: bool = False,
) -> ExportResult:
    """Write app ``slug`` of the engine database ``database`` to ``out_dir`` as mongodump would.

    Without ``strip_prefix``: ``out_dir/<database>/<slug>_<name>.bson``, documents as stored
    (with ``app_id``), as the seed's ``mongodump --query`` would write them. With it:
    ``out_dir/<slug>/<name>.bson``, a dedicated database named after the app, documents
    without ``app_id`` and indexes rewritten to match (see ``graduation.strip``). The app's
    registered manifest goes to ``out_dir/manifest.json``.
    """
    if not is_valid_slug(slug):
        raise GraduationError(f"{slug!r} is not a valid app slug")
    target = Path(out_dir)
    await asyncio.to_thread(_check_out_dir, target)
    manifest, other_slugs = await _registered(database, slug)
    infos = [
        info
        async for info in await database.list_collections(
            filter=scope_collection_filter(None, slug)
        )
    ]
    if not infos and manifest is None:
        raise GraduationError(
            f"app {slug!r} is not registered and has no collections in database "
            f"{database.name!r}: nothing to export (check the slug and --db)"
        )
    colliding = find_slug_collision(slug, other_slugs)
    if colliding is not None:
        raise GraduationError(
            f"app {slug!r} collides with the registered app {colliding!r}: their collection "
            "names cannot be told apart, so nothing was exported"
        )
    dump_database = slug if strip_prefix else database.name
    staging = target.parent / f".{target.name}.partial-{secrets.token_hex(4)}"
    await asyncio.to_thread((staging / dump_database).mkdir, parents=True)
    try:
        written, notes = await _write_collections(
            database, slug, infos, staging / dump_database, strip_prefix=strip_prefix
        )
        info = {
            "format": EXPORT_FORMAT,
            "slug": slug,
            "database": dump_database,
            "strip_prefix": strip_prefix,
            "source_database": database.name,
            "exported_at": datetime.now(timezone.utc).isoformat(),
            "mdb_engine_version": __version__,
            "collections": {item.name: item.stored_name for item in written},
        }
        await asyncio.to_thread(_write_json, staging / EXPORT_INFO_FILE, info)
        if manifest is not None:
            await asyncio.to_thread(_write_json, staging / MANIFEST_FILE, manifest)
        await asyncio.to_thread(_move_into_place, staging, target)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, staging, True)
        raise
    logger.info("app %r: exported %d collection(s) to %s", slug, len(written), target)
    return ExportResult(
        slug, target, dump_database, strip_prefix, manifest is not None, written, notes
    )


async def _registered(
    database: AsyncDatabase[Any], slug: str
) -> tuple[Mapping[str, Any] | None, list[str]]:
    """The app's persisted manifest (or ``None``) and the other registered slugs."""
    manifest: Mapping[str, Any] | None = None
    others: list[str] = []
    for document in await RegistryStore(database).documents():
        if document["_id"] == slug:
            manifest = document.get("manifest")
        else:
            others.append(str(document["_id"]))
    return manifest, others


async def _write_collections(
    database: AsyncDatabase[Any],
    slug: str,
    infos: Sequence[Mapping[str, Any]],
    directory: Path,
    *,
    strip_prefix: bool,
) -> tuple[tuple[ExportedCollection, ...], tuple[str, ...]]:
    scoped = ScopedDatabase(database, slug)
    written: list[ExportedCollection] = []
    notes: list[str] = []
    for info in sorted(infos, key=lambda item: str(item["name"])):
        physical = str(info["name"])
        name = logical_name(slug, physical)
        kind = info.get("type", "collection")
        if kind != "collection":
            notes.append(f"{name}: a {kind} is not exported (export its source data instead)")
            logger.warning("app %r: %s %r is not exported", slug, kind, name)
            continue
        collection = scoped.get_collection(name, codec_options=_RAW)
        indexes = [dict(index) async for index in await collection.list_indexes()]
        if strip_prefix:
            indexes, index_notes = strip_app_id_from_indexes(indexes, slug, name)
            notes.extend(index_notes)
        stored_name = name if strip_prefix else physical
        count = await _write_documents(
            collection.find({}), directory / bson_file_name(stored_name), strip_prefix
        )
        uuid = (info.get("info") or {}).get("uuid")
        metadata = CollectionMetadata(
            stored_name,
            dict(info.get("options") or {}),
            tuple(indexes),
            bytes(uuid).hex() if uuid is not None else None,
        )
        await asyncio.to_thread(
            (directory / metadata_file_name(stored_name)).write_text,
            encode_metadata(metadata),
            "utf-8",
        )
        names = tuple(str(index["name"]) for index in indexes)
        written.append(ExportedCollection(name, stored_name, count, names))
    return tuple(written), tuple(notes)


async def _write_documents(cursor: Any, path: Path, strip_app_id: bool) -> int:
    """Stream the cursor's raw documents to ``path``; how many were written."""
    file: BinaryIO = await asyncio.to_thread(path.open, "wb")
    count = 0
    buffer = bytearray()
    try:
        async for document in cursor:
            raw = document.raw
            buffer += without_field(raw, APP_ID_FIELD) if strip_app_id else raw
            count += 1
            if len(buffer) >= _FLUSH_BYTES:
                await asyncio.to_thread(file.write, bytes(buffer))
                buffer.clear()
        if buffer:
            await asyncio.to_thread(file.write, bytes(buffer))
    finally:
        await asyncio.to_thread(file.close)
    return count


def _check_out_dir(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise GraduationError(
            f"{target} already exists and is not an empty directory; export into a new one"
        )
    if not target.parent.is_dir():
        raise GraduationError(f"{target.parent} does not exist; create it first")


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _move_into_place(staging: Path, target: Path) -> None:
    if target.exists():
        target.rmdir()  # empty, checked before the export started
    staging.rename(target)
