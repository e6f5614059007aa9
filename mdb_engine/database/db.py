"""ScopedDatabase: one app's view of the shared database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.database import AsyncDatabase

from mdb_engine.database._surface import public_names
from mdb_engine.database.change_stream import ScopedChangeStream
from mdb_engine.database.collection import ScopedCollection
from mdb_engine.database.commands import rewrite_command
from mdb_engine.database.create_options import creation_options
from mdb_engine.database.cursor import ScopedCommandCursor
from mdb_engine.database.names import logical_name, physical_name, scope_collection_filter
from mdb_engine.database.observe import OperationObserver, no_observer
from mdb_engine.database.options import check_no_encrypted_fields, check_options
from mdb_engine.database.rewrite_pipeline import rewrite_change_stream_pipeline
from mdb_engine.database.views import ReadAccessCheck, ReadOnlyDatabase

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

__all__ = ["ScopedDatabase"]

# Bounds the cache of scoped collections (names come from code, but may come from input too).
_MAX_CACHED_COLLECTIONS = 1000


class ScopedDatabase:
    """Collections reached through it are the app's own: ``db.tasks`` is ``<slug>_tasks``.

    ``collection_options`` holds the manifest's ``create_collection`` options per logical name;
    ``read_access`` decides which other apps' collections ``read_scope`` may open.
    """

    __slots__ = (
        "__app_id",
        "__collection_options",
        "__collections",
        "__database",
        "__observer",
        "__read_access",
    )

    def __init__(
        self,
        database: AsyncDatabase[Any],
        app_id: str,
        *,
        collection_options: Mapping[str, Mapping[str, Any]] | None = None,
        read_access: ReadAccessCheck | None = None,
        observer: OperationObserver = no_observer,
    ) -> None:
        self.__database = database
        self.__observer = observer
        self.__app_id = app_id
        self.__collection_options = dict(collection_options or {})
        self.__read_access = read_access
        # Scoped collections are immutable: one per name serves every request (building one
        # maps and checks its name and asks PyMongo for a collection object).
        self.__collections: dict[str, ScopedCollection] = {}

    @property
    def app_id(self) -> str:
        """The slug of the app this database is scoped to."""
        return self.__app_id

    def get_collection(
        self,
        name: str,
        codec_options: Any | None = None,
        read_preference: Any | None = None,
        write_concern: Any | None = None,
        read_concern: Any | None = None,
    ) -> ScopedCollection:
        """The app's logical collection ``name``."""
        is_default = (
            codec_options is None
            and read_preference is None
            and write_concern is None
            and read_concern is None
        )
        if is_default and type(name) is str:
            cached = self.__collections.get(name)
            if cached is not None:
                return cached
        collection = self.__database.get_collection(
            physical_name(self.__app_id, name),
            codec_options,
            read_preference,
            write_concern,
            read_concern,
        )
        scoped = ScopedCollection(collection, self.__app_id, name, self.__observer)
        if is_default and len(self.__collections) < _MAX_CACHED_COLLECTIONS:
            self.__collections[name] = scoped
        return scoped

    def __getitem__(self, name: str) -> ScopedCollection:
        return self.get_collection(name)

    def __getattr__(self, name: str) -> ScopedCollection:
        # Private-looking attributes are never collections: no way to reach engine internals.
        if name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.get_collection(name)

    async def list_collection_names(
        self,
        session: AsyncClientSession | None = None,
        filter: Mapping[str, Any] | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """The logical names of this app's collections."""
        check_options("list_collection_names", kwargs)
        physical = await self.__database.list_collection_names(
            session=session,
            filter=scope_collection_filter(filter, self.__app_id),
            comment=comment,
            **kwargs,
        )
        return [logical_name(self.__app_id, name) for name in physical]

    async def list_collections(
        self,
        session: AsyncClientSession | None = None,
        filter: Mapping[str, Any] | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> ScopedCommandCursor:
        """This app's collections as ``listCollections`` describes them (``options`` holds a
        collection's validator, collation…), each under its logical ``name``."""
        check_options("list_collections", kwargs)
        cursor = await self.__database.list_collections(
            session=session,
            filter=scope_collection_filter(filter, self.__app_id),
            comment=comment,
            **kwargs,
        )
        app_id = self.__app_id
        return ScopedCommandCursor(
            cursor, lambda info: {**info, "name": logical_name(app_id, info["name"])}
        )

    async def command(
        self,
        command: str | Mapping[str, Any],
        value: Any = 1,
        check: bool = True,
        allowable_errors: Sequence[str | int] | None = None,
        read_preference: Any | None = None,
        codec_options: Any | None = None,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Run a database command, as ``AsyncDatabase.command``; only ``collMod`` on one of the
        app's own collections changing its document validation is allowed:
        ``await db.command("collMod", "people", validator={"$jsonSchema": schema})``.
        Anything else raises ``ScopeViolation`` before it is sent."""
        scoped = rewrite_command(command, value, kwargs, self.__app_id)
        options: dict[str, Any] = {}
        if codec_options is not None:
            options["codec_options"] = codec_options
        result: dict[str, Any] = await self.__database.command(
            scoped,
            check=check,
            allowable_errors=allowable_errors,
            read_preference=read_preference,
            session=session,
            comment=comment,
            **options,
        )
        return result

    async def create_collection(
        self,
        name: str,
        codec_options: Any | None = None,
        read_preference: Any | None = None,
        write_concern: Any | None = None,
        read_concern: Any | None = None,
        session: AsyncClientSession | None = None,
        check_exists: bool | None = True,
        **kwargs: Any,
    ) -> ScopedCollection:
        """Create the app's collection ``name`` with the manifest's ``collection_settings``.

        Keyword arguments given here override the declared settings.
        """
        check_options("create_collection", kwargs)
        options = creation_options(self.__collection_options.get(name), kwargs)
        collection = await self.__database.create_collection(
            physical_name(self.__app_id, name),
            codec_options,
            read_preference,
            write_concern,
            read_concern,
            session=session,
            check_exists=check_exists,
            **options,
        )
        return ScopedCollection(collection, self.__app_id, name, self.__observer)

    async def drop_collection(
        self,
        name_or_collection: str | ScopedCollection,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        encrypted_fields: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Drop the app's collection (given by logical name or as a scoped collection)."""
        check_no_encrypted_fields(encrypted_fields)
        name = (
            name_or_collection.name
            if isinstance(name_or_collection, ScopedCollection)
            else name_or_collection
        )
        return await self.__database.drop_collection(
            physical_name(self.__app_id, name),
            session=session,
            comment=comment,
            encrypted_fields=encrypted_fields,
        )

    async def watch(
        self,
        pipeline: Sequence[Mapping[str, Any]] | None = None,
        full_document: str | None = None,
        resume_after: Mapping[str, Any] | None = None,
        max_await_time_ms: int | None = None,
        batch_size: int | None = None,
        collation: Any | None = None,
        start_at_operation_time: Any | None = None,
        session: AsyncClientSession | None = None,
        start_after: Mapping[str, Any] | None = None,
        comment: Any | None = None,
        full_document_before_change: str | None = None,
        show_expanded_events: bool | None = None,
    ) -> ScopedChangeStream:
        """A change stream over this app's collections only."""
        own_collections = scope_collection_filter(None, self.__app_id)["name"]
        stream = await self.__database.watch(
            rewrite_change_stream_pipeline(
                pipeline or [], self.__app_id, namespace_filter={"ns.coll": own_collections}
            ),
            full_document=full_document,
            resume_after=resume_after,
            max_await_time_ms=max_await_time_ms,
            batch_size=batch_size,
            collation=collation,
            start_at_operation_time=start_at_operation_time,
            session=session,
            start_after=start_after,
            comment=comment,
            full_document_before_change=full_document_before_change,
            show_expanded_events=show_expanded_events,
        )
        return ScopedChangeStream(stream)

    def read_scope(self, owner: str) -> ReadOnlyDatabase:
        """A read-only view of app ``owner``'s collections, if both manifests agree to it.

        This app's manifest must list ``owner`` in ``data_access.read_scopes`` and ``owner``'s
        manifest must list this app in ``data_access.allow_read_by``.
        """
        return ReadOnlyDatabase(self.__database, self.__app_id, owner, self.__read_access)

    def __dir__(self) -> list[str]:
        return public_names(type(self))

    def __repr__(self) -> str:
        return f"ScopedDatabase(app={self.__app_id!r})"
