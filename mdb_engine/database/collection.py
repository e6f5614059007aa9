"""ScopedCollection: one app's view of one logical collection, used like ``AsyncCollection``.

Every method takes PyMongo's arguments and returns PyMongo's results; the rewrite rules in
``scope``, ``rewrite_update``, ``rewrite_pipeline`` and ``bulk`` are applied before anything is
sent, so a refused operation raises ``ScopeViolation`` without touching the server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.common import validate_is_mapping
from pymongo.errors import ConfigurationError
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

from mdb_engine.database._surface import public_names
from mdb_engine.database.bulk import scope_requests
from mdb_engine.database.canonical import canonical
from mdb_engine.database.change_stream import ScopedChangeStream
from mdb_engine.database.cursor import ScopedCommandCursor, ScopedCursor
from mdb_engine.database.fast_path import is_id_lookup, plan_id_lookup_projection
from mdb_engine.database.names import physical_name
from mdb_engine.database.observe import (
    OperationObserver,
    no_observer,
    observe_coroutine_methods,
)
from mdb_engine.database.options import (
    check_expressions,
    check_no_encrypted_fields,
    check_options,
)
from mdb_engine.database.rewrite_pipeline import rewrite_change_stream_pipeline, rewrite_pipeline
from mdb_engine.database.rewrite_update import rewrite_replacement, rewrite_update
from mdb_engine.database.scope import APP_ID_FIELD, assign_new_id, scope_filter, tag_document

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession
    from pymongo.operations import IndexModel

__all__ = ["ScopedCollection"]

logger = logging.getLogger(__name__)

# find_one options that keep a lookup by _id alone safe to answer from the bare _id query.
_ID_LOOKUP_OPTIONS = frozenset({"projection", "session", "comment", "max_time_ms", "hint"})


class ScopedCollection:
    """The logical collection ``name`` of one app; every command is constrained to its app_id."""

    __slots__ = ("__app_id", "__can_check_results", "__collection", "__name", "__observer")

    def __init__(
        self,
        collection: AsyncCollection[Any],
        app_id: str,
        name: str,
        observer: OperationObserver = no_observer,
    ) -> None:
        self.__collection = collection
        self.__app_id = app_id
        self.__name = name
        self.__observer = observer
        document_class = collection.codec_options.document_class
        self.__can_check_results = isinstance(document_class, type) and issubclass(
            document_class, MutableMapping
        )

    @property
    def name(self) -> str:
        """The logical name the app uses (``tasks``, not ``my_app_tasks``)."""
        return self.__name

    @property
    def codec_options(self) -> Any:
        """The codec options used to decode documents."""
        return self.__collection.codec_options

    @property
    def read_preference(self) -> Any:
        """The read preference of this collection."""
        return self.__collection.read_preference

    @property
    def write_concern(self) -> Any:
        """The write concern of this collection."""
        return self.__collection.write_concern

    @property
    def read_concern(self) -> Any:
        """The read concern of this collection."""
        return self.__collection.read_concern

    def with_options(
        self,
        codec_options: Any | None = None,
        read_preference: Any | None = None,
        write_concern: Any | None = None,
        read_concern: Any | None = None,
    ) -> ScopedCollection:
        """The same collection with other options, as ``AsyncCollection.with_options``."""
        collection = self.__collection.with_options(
            codec_options, read_preference, write_concern, read_concern
        )
        return ScopedCollection(collection, self.__app_id, self.__name, self.__observer)

    # -- reads ------------------------------------------------------------------------------

    def find(self, *args: Any, **kwargs: Any) -> ScopedCursor:
        """A cursor over this app's matching documents; PyMongo's ``find`` arguments."""
        args, kwargs = self.__plain_find_arguments(args, kwargs)
        check_expressions(args[1:], kwargs)
        if args:
            args = (scope_filter(args[0], self.__app_id), *args[1:])
        else:
            kwargs["filter"] = scope_filter(kwargs.get("filter"), self.__app_id)
        return ScopedCursor(self.__collection.find(*args, **kwargs), self)

    async def find_one(self, filter: Any | None = None, *args: Any, **kwargs: Any) -> Any:
        """The first matching document of this app, or ``None``."""
        if filter is not None and not isinstance(filter, Mapping):
            filter = {"_id": filter}
        if not args and not kwargs and self.__can_check_results and is_id_lookup(filter):
            # The hot path of find_one by _id: nothing else to normalise or check.
            return self.__own_document(await self.__collection.find_one(filter), strip=False)
        (filter, *rest), kwargs = self.__plain_find_arguments((filter, *args), kwargs)
        args = tuple(rest)
        check_expressions(args, kwargs)
        if self.__can_check_results and is_id_lookup(filter):
            found, answered = await self.__find_one_by_id(dict(filter or {}), args, kwargs)
            if answered:
                return found
        cursor = self.find(filter, *args, **kwargs).limit(-1)
        async for document in cursor:
            return document
        return None

    async def __find_one_by_id(
        self, filter: Mapping[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, bool]:
        if (
            len(args) > 1
            or (args and "projection" in kwargs)
            or not kwargs.keys() <= _ID_LOOKUP_OPTIONS
        ):
            return None, False
        plan = plan_id_lookup_projection(args[0] if args else kwargs.get("projection"))
        if plan is None:
            return None, False
        options = {**kwargs, "projection": plan.projection}
        document = await self.__collection.find_one(filter, **options)
        return self.__own_document(document, strip=plan.strip_app_id), True

    def __own_document(self, document: Any, *, strip: bool) -> Any:
        """``document`` if it belongs to this app (fail closed: another app's is not found)."""
        if document is None:
            return None
        if document.get(APP_ID_FIELD) != self.__app_id:
            logger.error(
                "a document of another app was found in %s; treated as not found",
                self.__collection.name,
            )
            return None
        if strip:
            del document[APP_ID_FIELD]
        return document

    async def count_documents(
        self,
        filter: Mapping[str, Any],
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> int:
        """How many of this app's documents match ``filter``."""
        check_options("count_documents", kwargs)
        return await self.__collection.count_documents(
            scope_filter(self.__plain(filter), self.__app_id),
            session=session,
            comment=comment,
            **kwargs,
        )

    async def estimated_document_count(self, comment: Any | None = None, **kwargs: Any) -> int:
        """This app's document count, answered exactly with a scoped count."""
        if "session" in kwargs:
            raise ConfigurationError("estimated_document_count does not support sessions")
        check_options("estimated_document_count", kwargs)
        return await self.__collection.count_documents(
            scope_filter(None, self.__app_id), comment=comment, **kwargs
        )

    async def distinct(
        self,
        key: str,
        filter: Mapping[str, Any] | None = None,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        hint: Any | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        """Distinct values of ``key`` among this app's matching documents."""
        check_options("distinct", kwargs)
        return await self.__collection.distinct(
            key,
            scope_filter(self.__plain(filter), self.__app_id),
            session=session,
            comment=comment,
            hint=hint,
            **kwargs,
        )

    async def aggregate(
        self,
        pipeline: Sequence[Mapping[str, Any]],
        session: AsyncClientSession | None = None,
        let: Mapping[str, Any] | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> ScopedCommandCursor:
        """Run an aggregation over this app's documents (stages from an allowlist)."""
        check_options("aggregate", kwargs)
        pipeline, let = self.__plain(pipeline), self.__plain(let)
        check_expressions(let)
        scoped = rewrite_pipeline(
            pipeline, self.__app_id, database_name=self.__collection.database.name
        )
        cursor = await self.__collection.aggregate(
            scoped, session=session, let=let, comment=comment, **kwargs
        )
        return ScopedCommandCursor(cursor)

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
        """A change stream of this collection that only carries this app's events."""
        stream = await self.__collection.watch(
            rewrite_change_stream_pipeline(self.__plain(pipeline or []), self.__app_id),
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

    # -- writes -----------------------------------------------------------------------------

    async def insert_one(
        self,
        document: Any,
        bypass_document_validation: bool | None = None,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
    ) -> InsertOneResult:
        """Insert one document tagged with the app's id; sets ``_id`` on it as PyMongo does."""
        tagged = tag_document(document, self.__app_id)
        assign_new_id(document, tagged)
        return await self.__collection.insert_one(
            tagged,
            bypass_document_validation=bypass_document_validation,
            session=session,
            comment=comment,
        )

    async def insert_many(
        self,
        documents: Iterable[Any],
        ordered: bool = True,
        bypass_document_validation: bool | None = None,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
    ) -> InsertManyResult:
        """Insert documents tagged with the app's id; a foreign app_id refuses the whole batch."""
        if isinstance(documents, Mapping) or not isinstance(documents, Iterable):
            raise TypeError("documents must be a non-empty list")
        originals = list(documents)
        tagged = [tag_document(document, self.__app_id) for document in originals]
        for original, copy in zip(originals, tagged, strict=True):
            assign_new_id(original, copy)
        return await self.__collection.insert_many(
            tagged,
            ordered=ordered,
            bypass_document_validation=bypass_document_validation,
            session=session,
            comment=comment,
        )

    async def update_one(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        upsert: bool = False,
        bypass_document_validation: bool | None = None,
        collation: Any | None = None,
        array_filters: Sequence[Mapping[str, Any]] | None = None,
        hint: Any | None = None,
        session: AsyncClientSession | None = None,
        let: Mapping[str, Any] | None = None,
        sort: Mapping[str, Any] | None = None,
        comment: Any | None = None,
    ) -> UpdateResult:
        """Update one of this app's documents; ``app_id`` cannot be changed."""
        let, array_filters = self.__plain(let), self.__plain(array_filters)
        check_expressions(let, array_filters)
        return await self.__collection.update_one(
            self.__write_filter(filter),
            rewrite_update(self.__plain(update), self.__app_id),
            upsert=upsert,
            bypass_document_validation=bypass_document_validation,
            collation=collation,
            array_filters=array_filters,
            hint=hint,
            session=session,
            let=let,
            sort=sort,
            comment=comment,
        )

    async def update_many(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        upsert: bool = False,
        array_filters: Sequence[Mapping[str, Any]] | None = None,
        bypass_document_validation: bool | None = None,
        collation: Any | None = None,
        hint: Any | None = None,
        session: AsyncClientSession | None = None,
        let: Mapping[str, Any] | None = None,
        comment: Any | None = None,
    ) -> UpdateResult:
        """Update this app's matching documents; ``app_id`` cannot be changed."""
        let, array_filters = self.__plain(let), self.__plain(array_filters)
        check_expressions(let, array_filters)
        return await self.__collection.update_many(
            self.__write_filter(filter),
            rewrite_update(self.__plain(update), self.__app_id),
            upsert=upsert,
            array_filters=array_filters,
            bypass_document_validation=bypass_document_validation,
            collation=collation,
            hint=hint,
            session=session,
            let=let,
            comment=comment,
        )

    async def replace_one(
        self,
        filter: Mapping[str, Any],
        replacement: Mapping[str, Any],
        upsert: bool = False,
        bypass_document_validation: bool | None = None,
        collation: Any | None = None,
        hint: Any | None = None,
        session: AsyncClientSession | None = None,
        let: Mapping[str, Any] | None = None,
        sort: Mapping[str, Any] | None = None,
        comment: Any | None = None,
    ) -> UpdateResult:
        """Replace one of this app's documents; the replacement is tagged with the app's id."""
        let = self.__plain(let)
        check_expressions(let)
        return await self.__collection.replace_one(
            self.__write_filter(filter),
            rewrite_replacement(self.__plain(replacement), self.__app_id),
            upsert=upsert,
            bypass_document_validation=bypass_document_validation,
            collation=collation,
            hint=hint,
            session=session,
            let=let,
            sort=sort,
            comment=comment,
        )

    async def delete_one(
        self,
        filter: Mapping[str, Any],
        collation: Any | None = None,
        hint: Any | None = None,
        session: AsyncClientSession | None = None,
        let: Mapping[str, Any] | None = None,
        comment: Any | None = None,
    ) -> DeleteResult:
        """Delete one of this app's matching documents."""
        let = self.__plain(let)
        check_expressions(let)
        return await self.__collection.delete_one(
            self.__write_filter(filter),
            collation=collation,
            hint=hint,
            session=session,
            let=let,
            comment=comment,
        )

    async def delete_many(
        self,
        filter: Mapping[str, Any],
        collation: Any | None = None,
        hint: Any | None = None,
        session: AsyncClientSession | None = None,
        let: Mapping[str, Any] | None = None,
        comment: Any | None = None,
    ) -> DeleteResult:
        """Delete this app's matching documents."""
        let = self.__plain(let)
        check_expressions(let)
        return await self.__collection.delete_many(
            self.__write_filter(filter),
            collation=collation,
            hint=hint,
            session=session,
            let=let,
            comment=comment,
        )

    async def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        projection: Mapping[str, Any] | Iterable[str] | None = None,
        sort: Any | None = None,
        upsert: bool = False,
        return_document: bool = False,
        array_filters: Sequence[Mapping[str, Any]] | None = None,
        hint: Any | None = None,
        session: AsyncClientSession | None = None,
        let: Mapping[str, Any] | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> Any:
        """Update one of this app's documents and return it (before or after)."""
        check_options("find_one_and_update", kwargs)
        projection, let = self.__plain(projection), self.__plain(let)
        array_filters = self.__plain(array_filters)
        check_expressions(projection, let, array_filters)
        return await self.__collection.find_one_and_update(
            self.__write_filter(filter),
            rewrite_update(self.__plain(update), self.__app_id),
            projection=projection,
            sort=sort,
            upsert=upsert,
            return_document=return_document,
            array_filters=array_filters,
            hint=hint,
            session=session,
            let=let,
            comment=comment,
            **kwargs,
        )

    async def find_one_and_replace(
        self,
        filter: Mapping[str, Any],
        replacement: Mapping[str, Any],
        projection: Mapping[str, Any] | Iterable[str] | None = None,
        sort: Any | None = None,
        upsert: bool = False,
        return_document: bool = False,
        hint: Any | None = None,
        session: AsyncClientSession | None = None,
        let: Mapping[str, Any] | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> Any:
        """Replace one of this app's documents and return it (before or after)."""
        check_options("find_one_and_replace", kwargs)
        projection, let = self.__plain(projection), self.__plain(let)
        check_expressions(projection, let)
        return await self.__collection.find_one_and_replace(
            self.__write_filter(filter),
            rewrite_replacement(self.__plain(replacement), self.__app_id),
            projection=projection,
            sort=sort,
            upsert=upsert,
            return_document=return_document,
            hint=hint,
            session=session,
            let=let,
            comment=comment,
            **kwargs,
        )

    async def find_one_and_delete(
        self,
        filter: Mapping[str, Any],
        projection: Mapping[str, Any] | Iterable[str] | None = None,
        sort: Any | None = None,
        hint: Any | None = None,
        session: AsyncClientSession | None = None,
        let: Mapping[str, Any] | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> Any:
        """Delete one of this app's documents and return it."""
        check_options("find_one_and_delete", kwargs)
        projection, let = self.__plain(projection), self.__plain(let)
        check_expressions(projection, let)
        return await self.__collection.find_one_and_delete(
            self.__write_filter(filter),
            projection=projection,
            sort=sort,
            hint=hint,
            session=session,
            let=let,
            comment=comment,
            **kwargs,
        )

    async def bulk_write(
        self,
        requests: Sequence[Any],
        ordered: bool = True,
        bypass_document_validation: bool | None = None,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        let: Mapping[str, Any] | None = None,
    ) -> BulkWriteResult:
        """Run write requests, each scoped like its single-operation form; all checked first."""
        let = self.__plain(let)
        check_expressions(let)
        return await self.__collection.bulk_write(
            scope_requests(requests, self.__app_id, self.__collection.codec_options),
            ordered=ordered,
            bypass_document_validation=bypass_document_validation,
            session=session,
            comment=comment,
            let=let,
        )

    # -- the collection itself ---------------------------------------------------------------

    async def create_index(
        self,
        keys: Any,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> str:
        """Create an index on this collection, as ``AsyncCollection.create_index``."""
        return await self.__collection.create_index(
            keys, session=session, comment=comment, **kwargs
        )

    async def create_indexes(
        self,
        indexes: Sequence[IndexModel],
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Create several indexes on this collection in one command."""
        check_options("create_indexes", kwargs)
        return await self.__collection.create_indexes(
            indexes, session=session, comment=comment, **kwargs
        )

    async def list_indexes(
        self, session: AsyncClientSession | None = None, comment: Any | None = None
    ) -> ScopedCommandCursor:
        """A cursor over this collection's index descriptions."""
        cursor = await self.__collection.list_indexes(session=session, comment=comment)
        return ScopedCommandCursor(cursor)

    async def index_information(
        self, session: AsyncClientSession | None = None, comment: Any | None = None
    ) -> MutableMapping[str, Any]:
        """This collection's indexes, keyed by name."""
        return await self.__collection.index_information(session=session, comment=comment)

    async def drop_index(
        self,
        index_or_name: Any,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> None:
        """Drop one index of this collection."""
        check_options("drop_index", kwargs)
        await self.__collection.drop_index(
            index_or_name, session=session, comment=comment, **kwargs
        )

    async def drop_indexes(
        self, session: AsyncClientSession | None = None, comment: Any | None = None, **kwargs: Any
    ) -> None:
        """Drop every index of this collection except ``_id``."""
        check_options("drop_indexes", kwargs)
        await self.__collection.drop_indexes(session=session, comment=comment, **kwargs)

    async def drop(
        self,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        encrypted_fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Drop this collection (the app's own physical collection only)."""
        check_no_encrypted_fields(encrypted_fields)
        await self.__collection.drop(
            session=session, comment=comment, encrypted_fields=encrypted_fields
        )

    async def rename(
        self,
        new_name: str,
        session: AsyncClientSession | None = None,
        comment: Any | None = None,
        **kwargs: Any,
    ) -> MutableMapping[str, Any]:
        """Rename this collection to another logical name of the same app."""
        check_options("rename", kwargs)
        return await self.__collection.rename(
            physical_name(self.__app_id, new_name), session=session, comment=comment, **kwargs
        )

    def __write_filter(self, filter: Any) -> dict[str, Any]:
        validate_is_mapping("filter", filter)
        return scope_filter(self.__plain(filter), self.__app_id)

    def __plain(self, value: Any) -> Any:
        return canonical(value, self.__collection.codec_options)

    def __plain_find_arguments(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``find``'s filter, projection and ``let`` as the server will read them."""
        args = tuple(self.__plain(arg) if i < 2 else arg for i, arg in enumerate(args))
        for name in ("filter", "projection", "let"):
            if name in kwargs:
                kwargs = {**kwargs, name: self.__plain(kwargs[name])}
        return args, kwargs

    def __dir__(self) -> list[str]:
        return public_names(type(self))

    def __repr__(self) -> str:
        return f"ScopedCollection(app={self.__app_id!r}, name={self.__name!r})"

    def __observed_by(self) -> tuple[OperationObserver, str, str]:
        return self.__observer, self.__app_id, self.__name


# Every awaited operation is timed and run as its app (for metrics and the logs).
observe_coroutine_methods(
    ScopedCollection,
    ScopedCollection._ScopedCollection__observed_by,  # type: ignore[attr-defined]
)
# A find runs when its cursor is read: to_list (one call for all the documents) is timed as
# "find". Reading document by document (async for, next) is not: a timed block per document
# would cost more than it tells.
observe_coroutine_methods(
    ScopedCursor,
    lambda cursor: cursor._ScopedCursor__collection._ScopedCollection__observed_by(),
    {"to_list": "find", "distinct": "distinct", "explain": "explain"},
)
