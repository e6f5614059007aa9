"""ScopedCollection: one app's view of one logical collection, used like AsyncCollection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.results import InsertManyResult, InsertOneResult

from mdb_engine.database.cursor import ScopedCursor
from mdb_engine.database.scope import scope_filter, tag_document

__all__ = ["ScopedCollection"]


class ScopedCollection:
    """The logical collection ``name`` of one app; every command is constrained to its app_id."""

    __slots__ = ("__app_id", "__collection", "__name")

    def __init__(self, collection: AsyncCollection[Mapping[str, Any]], app_id: str, name: str):
        self.__collection = collection
        self.__app_id = app_id
        self.__name = name

    @property
    def name(self) -> str:
        """The logical name the app uses (``tasks``, not ``my_app_tasks``)."""
        return self.__name

    def __repr__(self) -> str:
        return f"ScopedCollection(app={self.__app_id!r}, name={self.__name!r})"

    async def insert_one(self, document: Any, **kwargs: Any) -> InsertOneResult:
        """Insert one document tagged with the app's id; sets ``_id`` on it as PyMongo does."""
        tagged = tag_document(document, self.__app_id)
        if "_id" not in tagged:
            tagged["_id"] = document["_id"] = ObjectId()
        return await self.__collection.insert_one(tagged, **kwargs)

    async def insert_many(self, documents: Iterable[Any], **kwargs: Any) -> InsertManyResult:
        """Insert documents tagged with the app's id; a foreign app_id refuses the whole batch."""
        originals = list(documents)
        tagged = [tag_document(document, self.__app_id) for document in originals]
        for original, copy in zip(originals, tagged, strict=True):
            if "_id" not in copy:
                copy["_id"] = original["_id"] = ObjectId()
        return await self.__collection.insert_many(tagged, **kwargs)

    async def find_one(
        self, filter: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> Mapping[str, Any] | None:
        """The first matching document of this app, or ``None``."""
        return await self.__collection.find_one(
            scope_filter(filter, self.__app_id), *args, **kwargs
        )

    def find(
        self, filter: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> ScopedCursor:
        """A cursor over this app's matching documents."""
        cursor = self.__collection.find(scope_filter(filter, self.__app_id), *args, **kwargs)
        return ScopedCursor(cursor)

    async def count_documents(self, filter: Mapping[str, Any], **kwargs: Any) -> int:
        """How many of this app's documents match ``filter``."""
        return await self.__collection.count_documents(
            scope_filter(filter, self.__app_id), **kwargs
        )
