"""Load checked dump collections all-or-nothing: staging collections, then renames.

Each collection is created under a staging name (``_mdb_engine_import_<token>_<name>``) with
the dump's options, filled with ordered ``insert_many`` batches, given the dump's indexes, and
only then renamed to its final name. Any failure drops everything this load created.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from mdb_engine.graduation.dump_format import iter_bson_file
from mdb_engine.graduation.dump_reader import DumpCollection

__all__ = ["BATCH_BYTES", "BATCH_DOCUMENTS", "STAGING_PREFIX", "CollectionLoad", "drop_quietly"]

logger = logging.getLogger(__name__)

STAGING_PREFIX = "_mdb_engine_import_"
BATCH_DOCUMENTS = 1000
BATCH_BYTES = 8 * 1024 * 1024
# Fields of a listIndexes document that createIndexes sets itself (as mongorestore drops them).
_SERVER_SET_INDEX_FIELDS = frozenset({"v", "ns"})

Transform = Callable[[bytes], bytes]


class CollectionLoad:
    """One all-or-nothing load into ``database``; ``created`` names what to drop on failure."""

    def __init__(self, database: AsyncDatabase[Any]) -> None:
        self._database = database
        self._token = secrets.token_hex(4)
        self.created: list[str] = []

    async def load(
        self, collections: Mapping[str, DumpCollection], transform: Transform | None
    ) -> None:
        """Stage every collection (final name -> dump collection), then rename them all."""
        staged: dict[str, str] = {}
        for final, collection in collections.items():
            staging = f"{STAGING_PREFIX}{self._token}_{collection.name}"
            self.created.append(staging)
            await self._stage(staging, collection, transform)
            staged[final] = staging
        for final, staging in staged.items():
            await self._database[staging].rename(final)
            self.created[self.created.index(staging)] = final

    async def rollback(self) -> None:
        """Drop every collection this load created (staged or already renamed)."""
        for name in reversed(self.created):
            await drop_quietly(self._database, name)
        self.created.clear()

    async def _stage(
        self, staging: str, collection: DumpCollection, transform: Transform | None
    ) -> None:
        await self._database.command({"create": staging, **collection.metadata.options})
        target = self._database[staging]
        if collection.bson_path is not None:
            documents = iter_bson_file(collection.bson_path)
            try:
                while batch := await asyncio.to_thread(_next_batch, documents, transform):
                    await target.insert_many(batch, ordered=True, bypass_document_validation=True)
            finally:
                await asyncio.to_thread(documents.close)  # closes the file
        indexes = _index_documents(collection.metadata.indexes, collection.metadata.options)
        if indexes:
            await self._database.command({"createIndexes": staging, "indexes": indexes})
        logger.info(
            "staged %s: %d document(s), %d index(es)",
            collection.stored_name,
            collection.document_count,
            len(indexes),
        )


async def drop_quietly(database: AsyncDatabase[Any], name: str) -> None:
    """Drop collection ``name``; a failure is logged, not raised (used while cleaning up)."""
    try:
        await database.drop_collection(name)
    except PyMongoError as exc:
        logger.error("could not drop %r while undoing an import: %s", name, exc)


def _index_documents(
    indexes: Sequence[Mapping[str, Any]], options: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The ``createIndexes`` entries that rebuild ``indexes`` on a collection with ``options``.

    ``listIndexes`` leaves out the collation of an index that has none (the simple one); on a
    collection with a default collation such an index must ask for ``simple`` explicitly, or
    it would inherit the default (and a text index would be refused).
    """
    has_default_collation = "collation" in options
    documents: list[dict[str, Any]] = []
    for index in indexes:
        if index["name"] == "_id_":
            continue  # created with the collection, from its options
        document = {
            key: value for key, value in index.items() if key not in _SERVER_SET_INDEX_FIELDS
        }
        if has_default_collation and "collation" not in document:
            document["collation"] = {"locale": "simple"}
        documents.append(document)
    return documents


def _next_batch(documents: Iterator[bytes], transform: Transform | None) -> list[RawBSONDocument]:
    """Up to BATCH_DOCUMENTS documents or BATCH_BYTES bytes (blocking: reads the file)."""
    batch: list[RawBSONDocument] = []
    size = 0
    for raw in documents:
        document = transform(raw) if transform is not None else raw
        batch.append(RawBSONDocument(document))
        size += len(document)
        if len(batch) >= BATCH_DOCUMENTS or size >= BATCH_BYTES:
            break
    return batch
