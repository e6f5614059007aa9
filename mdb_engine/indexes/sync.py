"""Read an app's indexes from the server, plan them against the manifest, and apply the plan.

Reading costs one ``listCollections`` and one ``listIndexes`` per collection (all at once);
an unchanged app sends nothing else. Applying sends, per collection and concurrently: the
drops it was asked for, one ``collMod`` per index changed in place, and one ``createIndexes``
carrying every missing index.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from pymongo.operations import SearchIndexModel

from mdb_engine.database.names import logical_name, physical_name, scope_collection_filter
from mdb_engine.errors import ConfigurationError, IndexConflict, IndexManagementError
from mdb_engine.indexes.plan import (
    IndexAction,
    IndexChange,
    IndexPlan,
    plan_collection,
    plan_search_indexes,
)
from mdb_engine.indexes.search import (
    SEARCH_UNSUPPORTED_CODES,
    DeclaredSearchIndex,
    declare_search_index,
)
from mdb_engine.indexes.spec import DeclaredIndex, declare_index

if TYPE_CHECKING:  # indexes/ does not depend on core/ at run time (ARCHITECTURE §1)
    from mdb_engine.core.manifest import CollectionSettings, IndexSpec

__all__ = ["SEARCH_FALLBACK", "IndexSyncResult", "OnConflict", "plan_indexes", "sync_indexes"]

logger = logging.getLogger(__name__)

OnConflict = Literal["error", "recreate"]
Database = AsyncDatabase[Mapping[str, Any]]
SEARCH_FALLBACK = (
    "Atlas Search indexes need MongoDB Atlas or atlas-local; on this server they are not "
    "created and $search / $vectorSearch stages fail. For text, a filtered find is the "
    "fallback; for vectors, mdb_engine.embeddings.vector_search (and "
    "EmbeddingService.search) switches to an exact cosine search by itself"
)
_NAMESPACE_NOT_FOUND = 26
_NAMESPACE_EXISTS = 48


@dataclass(frozen=True)
class IndexSyncResult:
    """What a sync did: the plan it followed and the indexes it touched."""

    plan: IndexPlan
    created: tuple[IndexChange, ...] = ()
    modified: tuple[IndexChange, ...] = ()
    recreated: tuple[IndexChange, ...] = ()
    dropped: tuple[IndexChange, ...] = ()

    @property
    def changed_anything(self) -> bool:
        """Whether any index command was sent."""
        return bool(self.created or self.modified or self.recreated or self.dropped)


@dataclass
class _ServerState:
    existing: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    search: dict[str, list[Mapping[str, Any]]] | None = None
    search_unsupported: str = ""


async def plan_indexes(
    database: Database,
    slug: str,
    managed_indexes: Mapping[str, Sequence[IndexSpec]],
    collection_settings: Mapping[str, CollectionSettings] | None = None,
) -> IndexPlan:
    """Compare app ``slug``'s declared indexes with the server's; sends only reads."""
    settings = collection_settings or {}
    state = await _read_state(database, slug, managed_indexes)
    changes: list[IndexChange] = []
    for collection in sorted(set(managed_indexes) | set(state.existing)):
        specs = managed_indexes.get(collection, ())
        existing = state.existing.get(collection, [])
        default_collation = _default_collation(existing, settings.get(collection))
        regular = [declare_index(spec, default_collation) for spec in specs if not spec.is_search]
        changes.extend(plan_collection(collection, regular, existing))
        search = [declare_search_index(spec) for spec in specs if spec.is_search]
        if search or (state.search and state.search.get(collection)):
            listed = None if state.search is None else state.search.get(collection, [])
            changes.extend(
                plan_search_indexes(collection, search, listed, state.search_unsupported)
            )
    return IndexPlan(slug, tuple(changes))


def _default_collation(
    existing: Sequence[Mapping[str, Any]], settings: CollectionSettings | None
) -> Mapping[str, Any] | None:
    # The _id index carries the collection's default collation, which new indexes inherit.
    for document in existing:
        if document.get("name") == "_id_":
            collation: Mapping[str, Any] | None = document.get("collation")
            return collation
    return settings.collation if settings is not None else None


async def _read_state(
    database: Database, slug: str, managed_indexes: Mapping[str, Sequence[IndexSpec]]
) -> _ServerState:
    # The declared collections' indexes are read while the app's collections are listed;
    # an undeclared collection (one the plan reports extras for) costs one more round trip.
    declared = sorted(managed_indexes)
    physical, *declared_listings = await asyncio.gather(
        database.list_collection_names(
            filter=scope_collection_filter({"type": "collection"}, slug)
        ),
        *(_list_indexes(database[physical_name(slug, name)]) for name in declared),
    )
    undeclared = sorted({logical_name(slug, name) for name in physical} - set(declared))
    undeclared_listings = await asyncio.gather(
        *(_list_indexes(database[physical_name(slug, name)]) for name in undeclared)
    )
    collections = declared + undeclared
    listings = [*declared_listings, *undeclared_listings]
    state = _ServerState(existing=dict(zip(collections, listings, strict=True)))
    has_search = any(spec.is_search for specs in managed_indexes.values() for spec in specs)
    if has_search:
        await _read_search_state(database, slug, collections, state)
    return state


async def _list_indexes(collection: AsyncCollection[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    cursor = await collection.list_indexes()
    return [dict(document) async for document in cursor]


async def _read_search_state(
    database: Database, slug: str, collections: Sequence[str], state: _ServerState
) -> None:
    results = await asyncio.gather(
        *(_list_search_indexes(database[physical_name(slug, name)]) for name in collections),
        return_exceptions=True,
    )
    listed: dict[str, list[Mapping[str, Any]]] = {}
    for name, result in zip(collections, results, strict=True):
        if isinstance(result, OperationFailure) and result.code in SEARCH_UNSUPPORTED_CODES:
            state.search_unsupported = (
                f"this server does not support Atlas Search indexes ({_server_message(result)})"
            )
            return
        if isinstance(result, BaseException):
            raise result
        listed[name] = result
    state.search = listed


async def _list_search_indexes(
    collection: AsyncCollection[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    try:
        cursor = await collection.list_search_indexes()
        return [dict(document) async for document in cursor]
    except OperationFailure as exc:
        if exc.code == _NAMESPACE_NOT_FOUND:
            return []
        raise


async def sync_indexes(
    database: Database,
    slug: str,
    managed_indexes: Mapping[str, Sequence[IndexSpec]],
    collection_settings: Mapping[str, CollectionSettings] | None = None,
    *,
    prune: bool = False,
    on_conflict: OnConflict = "error",
) -> IndexSyncResult:
    """Bring app ``slug``'s indexes to the declared state.

    Missing indexes are created, TTL and ``hidden`` changes are made in place; any other
    difference raises :class:`IndexConflict` before anything is sent, unless ``on_conflict`` is
    ``"recreate"`` (drop, then build as declared). Undeclared indexes are dropped only with
    ``prune=True``. Every drop is logged; a unique one with a warning.
    """
    if on_conflict not in ("error", "recreate"):
        raise ConfigurationError(f"on_conflict must be 'error' or 'recreate', not {on_conflict!r}")
    plan = await plan_indexes(database, slug, managed_indexes, collection_settings)
    if plan.conflict and on_conflict == "error":
        raise IndexConflict(slug, plan.conflict)
    if plan.unsupported:
        names = ", ".join(f"{change.collection}.{change.name}" for change in plan.unsupported)
        logger.warning("app %r: search indexes %s not created: %s", slug, names, SEARCH_FALLBACK)
    by_collection: dict[str, list[IndexChange]] = {}
    for change in plan.changes:
        by_collection.setdefault(change.collection, []).append(change)
    results = await asyncio.gather(
        *(
            _apply_collection(database, slug, collection, changes, prune=prune)
            for collection, changes in by_collection.items()
        ),
        return_exceptions=True,
    )
    failures = [result for result in results if isinstance(result, BaseException)]
    for failure in failures:
        if not isinstance(failure, Exception):
            raise failure
    if failures:
        message = "; ".join(str(failure) for failure in failures)
        raise IndexManagementError(message) from failures[0]
    applied = [change for result in results if isinstance(result, list) for change in result]
    return IndexSyncResult(
        plan,
        created=_where(applied, IndexAction.CREATE),
        modified=_where(applied, IndexAction.MODIFY),
        recreated=_where(applied, IndexAction.CONFLICT),
        dropped=_where(applied, IndexAction.EXTRA),
    )


def _where(changes: Sequence[IndexChange], action: IndexAction) -> tuple[IndexChange, ...]:
    return tuple(change for change in changes if change.action is action)


async def _apply_collection(
    database: Database, slug: str, collection: str, changes: Sequence[IndexChange], *, prune: bool
) -> list[IndexChange]:
    """Apply one collection's part of the plan; return the changes acted on."""
    target = database[physical_name(slug, collection)]
    acted: list[IndexChange] = []
    step = "reading"
    try:
        for change in changes:
            if change.action is IndexAction.CONFLICT or (
                prune and change.action is IndexAction.EXTRA
            ):
                step = f"dropping index {change.existing_name!r}"
                await _drop(target, slug, change)
                acted.append(change)
        for change in changes:
            if change.action is IndexAction.MODIFY:
                step = f"changing index {change.name!r} in place"
                await _modify(database, target, change)
                acted.append(change)
        rebuilt = [
            change
            for change in changes
            if change.action in (IndexAction.CREATE, IndexAction.CONFLICT)
        ]
        regular = [c.declaration for c in rebuilt if isinstance(c.declaration, DeclaredIndex)]
        if regular:
            step = f"creating indexes {[declared.name for declared in regular]}"
            await target.create_indexes([declared.model() for declared in regular])
            logger.info(
                "app %r: created indexes %s on %r", slug, [d.name for d in regular], collection
            )
        search = [c.declaration for c in rebuilt if isinstance(c.declaration, DeclaredSearchIndex)]
        if search:
            step = f"creating search indexes {[declared.name for declared in search]}"
            await _create_search_indexes(database, target, search)
        acted.extend(change for change in rebuilt if change.action is IndexAction.CREATE)
    except OperationFailure as exc:
        raise IndexManagementError(
            f"app {slug!r}, collection {collection!r}: {step} failed: {_server_message(exc)}"
        ) from exc
    return acted


async def _drop(target: AsyncCollection[Mapping[str, Any]], slug: str, change: IndexChange) -> None:
    name = change.existing_name or change.name
    why = "to rebuild it as declared" if change.action is IndexAction.CONFLICT else "(prune=True)"
    if change.is_unique:
        logger.warning(
            "app %r: dropping UNIQUE index %r on %r %s; uniqueness is not enforced until it is "
            "rebuilt",
            slug,
            name,
            target.name,
            why,
        )
    else:
        logger.warning("app %r: dropping index %r on %r %s", slug, name, target.name, why)
    if change.is_search:
        await target.drop_search_index(name)
    else:
        await target.drop_index(name)


async def _modify(
    database: Database, target: AsyncCollection[Mapping[str, Any]], change: IndexChange
) -> None:
    declaration = change.declaration
    if isinstance(declaration, DeclaredSearchIndex):
        await target.update_search_index(declaration.name, dict(declaration.definition))
        return
    declared = change.declared or {}
    update: dict[str, Any] = {"name": change.name}
    for option in change.differences:
        update[option] = declared.get(option, False)
    await database.command("collMod", target.name, index=update)


async def _create_search_indexes(
    database: Database,
    target: AsyncCollection[Mapping[str, Any]],
    declared: Sequence[DeclaredSearchIndex],
) -> None:
    try:  # Atlas builds search indexes only on an existing collection.
        await database.create_collection(target.name, check_exists=False)
    except OperationFailure as exc:
        if exc.code != _NAMESPACE_EXISTS:
            raise
    await target.create_search_indexes(
        [
            SearchIndexModel(dict(index.definition), name=index.name, type=index.type)
            for index in declared
        ]
    )


def _server_message(exc: OperationFailure) -> str:
    details = exc.details or {}
    return f"{details.get('errmsg', exc)} (code {exc.code})"
