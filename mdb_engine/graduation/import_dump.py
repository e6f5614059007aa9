"""Import a mongodump directory: as an app of this engine, or as plain collections.

Everything is checked before the first write (every file of the dump, the target names, the
registry); then the collections are loaded all-or-nothing (see ``graduation.loading``), and
the app is registered when the dump carries its manifest. Any failure, the registration's
included, undoes the whole import: nothing half-imported is left behind.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from mdb_engine.core.manifest import parse_manifest
from mdb_engine.core.registry_store import RegistryStore
from mdb_engine.core.seeding import SEED_MARKERS_COLLECTION
from mdb_engine.database.create_options import creation_options
from mdb_engine.database.names import find_slug_collision, is_valid_slug, physical_name
from mdb_engine.database.scope import APP_ID_FIELD
from mdb_engine.errors import (
    DumpError,
    GraduationError,
    ImportConflict,
    ManifestError,
    MDBEngineError,
)
from mdb_engine.graduation.dump_format import MANIFEST_FILE
from mdb_engine.graduation.dump_reader import Dump, DumpCollection, read_dump
from mdb_engine.graduation.loading import CollectionLoad, drop_quietly
from mdb_engine.graduation.raw_bson import with_string_field

__all__ = ["AppRegistrar", "ImportResult", "ImportedCollection", "import_app", "import_plain"]

logger = logging.getLogger(__name__)


class AppRegistrar(Protocol):
    """What registers the imported app: a :class:`~mdb_engine.MongoDBEngine` on the same
    database."""

    async def register_app(self, manifest: Mapping[str, Any]) -> object:
        """Register the app and apply what its manifest declares."""

    async def unregister_app(self, slug: str) -> None:
        """Forget the app again (used to undo a failed import)."""


@dataclass(frozen=True)
class ImportedCollection:
    """One collection loaded: its name in the dump and where it went."""

    name: str
    target: str
    document_count: int
    index_names: tuple[str, ...]


@dataclass(frozen=True)
class ImportResult:
    """What an import loaded into ``database``; ``slug`` is ``None`` for a plain import."""

    database: str
    slug: str | None
    collections: tuple[ImportedCollection, ...]
    is_registered: bool
    skipped: tuple[str, ...]


async def import_app(
    database: AsyncDatabase[Any],
    source: str | Path,
    slug: str,
    *,
    registrar: AppRegistrar | None = None,
    source_slug: str | None = None,
    source_db: str | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> ImportResult:
    """Load the dump at ``source`` into the engine database ``database`` as app ``slug``.

    Collection ``N`` becomes ``<slug>_N`` and every document gets ``app_id: slug`` (in place,
    or appended when the dump had none). Refused, with nothing written, when the dump is
    damaged, when ``<slug>_*`` collections exist, when ``slug`` collides with a registered
    app, or when it is registered and the dump's manifest would register it again. With a
    ``registrar`` (the engine) and a ``manifest.json`` in the dump, the app is registered
    under ``slug`` afterwards; ``manifest`` stands in for a dump without one (a plain
    mongodump) or replaces the dump's.
    """
    if not is_valid_slug(slug):
        raise GraduationError(f"{slug!r} is not a valid app slug (2-63 of a-z, 0-9, '_', '-')")
    dump = await asyncio.to_thread(
        read_dump, Path(source), source_slug=source_slug, source_db=source_db
    )
    registered = set(await RegistryStore(database).fingerprints())
    other = find_slug_collision(slug, registered)
    if other is not None:
        raise ImportConflict(
            f"app {slug!r} would share collection names with the registered app {other!r}; "
            "choose another --slug"
        )
    existing = await database.list_collection_names(
        filter={"name": {"$regex": "^" + re.escape(slug + "_")}}
    )
    if existing:
        raise ImportConflict(
            f"app {slug!r} already has collections in database {database.name!r} "
            f"({', '.join(sorted(existing))}); nothing was imported: import under another "
            "--slug, or drop them first"
        )
    to_register = _manifest_for(dump, slug, manifest) if registrar is not None else None
    if to_register is not None and slug in registered:
        raise ImportConflict(
            f"app {slug!r} is already registered; nothing was imported: import under another "
            "--slug, or unregister it first"
        )
    targets = {
        physical_name(slug, item.name): _as_app_collection(item) for item in dump.collections
    }
    load = CollectionLoad(database)
    markers: list[str] = []
    did_register = False
    try:
        await load.load(targets, lambda raw: with_string_field(raw, APP_ID_FIELD, slug))
        if to_register is not None and registrar is not None:
            markers = await _mark_seeded(database, slug, to_register)
            did_register = True
            await registrar.register_app(to_register)
    except BaseException:
        logger.error("import of app %r failed; undoing it", slug)
        if did_register and registrar is not None:
            await _unregister_quietly(registrar, slug)
        await load.rollback()
        for name in await database.list_collection_names(
            filter={"name": {"$regex": "^" + re.escape(slug + "_")}}
        ):
            await drop_quietly(database, name)  # created by the failed registration
        if markers:
            await database[SEED_MARKERS_COLLECTION].delete_many({"_id": {"$in": markers}})
        raise
    logger.info("imported %d collection(s) as app %r", len(targets), slug)
    return _result(database, slug, targets, is_registered=did_register, dump=dump)


async def import_plain(
    database: AsyncDatabase[Any],
    source: str | Path,
    *,
    source_slug: str | None = None,
    source_db: str | None = None,
) -> ImportResult:
    """Load the dump at ``source`` into ``database`` as plain collections, documents as dumped.

    A collection keeps the name the app used (``tasks``, the ``<slug>_`` prefix removed when
    the dump carries it). Refused, with nothing written, when the dump is damaged or any
    target collection exists.
    """
    dump = await asyncio.to_thread(
        read_dump, Path(source), source_slug=source_slug, source_db=source_db
    )
    targets = {item.name: item for item in dump.collections}
    existing = await database.list_collection_names(filter={"name": {"$in": list(targets)}})
    if existing:
        raise ImportConflict(
            f"database {database.name!r} already has the collection(s) "
            f"{', '.join(sorted(existing))}; nothing was imported: choose another --db, or "
            "drop them first"
        )
    load = CollectionLoad(database)
    try:
        await load.load(targets, None)
    except BaseException:
        logger.error("import into database %r failed; undoing it", database.name)
        await load.rollback()
        raise
    return _result(database, None, targets, is_registered=False, dump=dump)


def _as_app_collection(collection: DumpCollection) -> DumpCollection:
    """The collection with the options the engine gives an app's collection: a validator that
    forbids unknown fields also allows ``app_id`` (see ``creation_options``)."""
    options = creation_options(collection.metadata.options, {})
    return replace(collection, metadata=replace(collection.metadata, options=options))


def _manifest_for(dump: Dump, slug: str, given: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The manifest to register (given, else the dump's) under the new slug, validated;
    ``None`` when there is none."""
    original = given if given is not None else dump.manifest
    if original is None:
        return None
    manifest = {**original, "slug": slug}
    where = "the given manifest" if given is not None else str(dump.root / MANIFEST_FILE)
    try:
        parse_manifest(manifest, source=where)
    except ManifestError as exc:
        raise DumpError(
            where,
            f"is not a valid manifest for app {slug!r}:\n{exc}",
            "fix it, or import without registering the app",
        ) from None
    return manifest


async def _mark_seeded(
    database: AsyncDatabase[Any], slug: str, manifest: Mapping[str, Any]
) -> list[str]:
    """Record the manifest's ``initial_data`` as seeded: the dump already holds those
    documents, and registration must not insert them again. The markers added are returned."""
    added: list[str] = []
    markers = database[SEED_MARKERS_COLLECTION]
    for collection in manifest.get("initial_data") or {}:
        marker = f"{slug}/{collection}"
        result = await markers.update_one(
            {"_id": marker},
            {"$setOnInsert": {"state": "done", "at": datetime.now(timezone.utc)}},
            upsert=True,
        )
        if result.upserted_id is not None:
            added.append(marker)
    return added


async def _unregister_quietly(registrar: AppRegistrar, slug: str) -> None:
    try:
        await registrar.unregister_app(slug)
    except MDBEngineError as exc:  # never got as far as the registry
        logger.info("app %r was not registered: %s", slug, exc)


def _result(
    database: AsyncDatabase[Any],
    slug: str | None,
    targets: Mapping[str, DumpCollection],
    *,
    is_registered: bool,
    dump: Dump,
) -> ImportResult:
    collections = tuple(
        ImportedCollection(
            item.name,
            target,
            item.document_count,
            tuple(str(index["name"]) for index in item.metadata.indexes),
        )
        for target, item in targets.items()
    )
    return ImportResult(database.name, slug, collections, is_registered, dump.skipped)
