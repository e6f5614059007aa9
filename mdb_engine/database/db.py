"""ScopedDatabase: one app's view of the shared database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from mdb_engine.database.collection import ScopedCollection
from mdb_engine.database.names import physical_name

__all__ = ["ScopedDatabase"]


class ScopedDatabase:
    """Collections reached through it are the app's own: ``db.tasks`` is ``<slug>_tasks``."""

    __slots__ = ("__app_id", "__database")

    def __init__(self, database: AsyncDatabase[Mapping[str, Any]], app_id: str) -> None:
        self.__database = database
        self.__app_id = app_id

    @property
    def app_id(self) -> str:
        """The slug of the app this database is scoped to."""
        return self.__app_id

    def get_collection(self, name: str) -> ScopedCollection:
        """The app's logical collection ``name``."""
        physical = physical_name(self.__app_id, name)
        return ScopedCollection(self.__database.get_collection(physical), self.__app_id, name)

    def __getitem__(self, name: str) -> ScopedCollection:
        return self.get_collection(name)

    def __getattr__(self, name: str) -> ScopedCollection:
        # Private-looking attributes are never collections: no way to reach engine internals.
        if name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.get_collection(name)

    def __repr__(self) -> str:
        return f"ScopedDatabase(app={self.__app_id!r})"
