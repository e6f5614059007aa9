"""The document library: a record per document in ``documents``, its embedded chunks in the
embedding service's collection (``chunks``), linked by ``source_id`` = the record's ``_id``.
Each chunk also carries its document's title in ``metadata.title``, so a search needs no join.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from mdb_engine import ScopedDatabase
from mdb_engine.embeddings import EmbeddingService

from .schemas import StoredDocument

__all__ = ["add_document", "delete_document", "find_document", "list_documents", "parse_id"]

logger = logging.getLogger(__name__)


def parse_id(document_id: str) -> ObjectId | None:
    """The ObjectId that ``document_id`` spells, or None if it spells none."""
    try:
        return ObjectId(document_id)
    except (InvalidId, TypeError):
        return None


async def add_document(
    db: ScopedDatabase,
    embeddings: EmbeddingService,
    title: str,
    text: str,
    *,
    filename: str | None = None,
) -> StoredDocument:
    """Store the record, then split, embed and store its chunks. If embedding fails the
    record is removed again, so the library never lists a document it cannot search."""
    record: dict[str, Any] = {
        "title": title,
        "filename": filename,
        "text": text,
        "characters": len(text),
        "chunk_count": 0,
        "created_at": datetime.now(timezone.utc),
    }
    document_id = (await db.documents.insert_one(record)).inserted_id
    try:
        stored = await embeddings.process_and_store(
            text, source_id=document_id, metadata={"title": title}
        )
    except Exception:
        await db.documents.delete_one({"_id": document_id})
        await embeddings.collection().delete_many({"source_id": document_id})
        raise
    await db.documents.update_one(
        {"_id": document_id}, {"$set": {"chunk_count": stored.chunk_count}}
    )
    record.update(_id=document_id, chunk_count=stored.chunk_count)
    logger.info("document %s (%r) stored as %d chunks", document_id, title, stored.chunk_count)
    return _listed(record)


async def list_documents(db: ScopedDatabase, limit: int = 200) -> list[StoredDocument]:
    """The newest documents first (without their text)."""
    cursor = db.documents.find({}, {"text": 0}).sort("created_at", -1).limit(limit)
    return [_listed(record) async for record in cursor]


async def find_document(db: ScopedDatabase, document_id: ObjectId) -> dict[str, Any] | None:
    """One document's record, text included, or None."""
    found: dict[str, Any] | None = await db.documents.find_one({"_id": document_id})
    return found


async def delete_document(
    db: ScopedDatabase, embeddings: EmbeddingService, document_id: ObjectId
) -> int | None:
    """Delete the record and its chunks; how many chunks went, or None for no such document."""
    deleted = await db.documents.delete_one({"_id": document_id})
    if deleted.deleted_count == 0:
        return None
    chunks = await embeddings.collection().delete_many({"source_id": document_id})
    logger.info("document %s deleted with %d chunks", document_id, chunks.deleted_count)
    return chunks.deleted_count


def _listed(record: dict[str, Any]) -> StoredDocument:
    """A record as the API lists it (MongoDB returns naive UTC datetimes)."""
    created_at: datetime = record["created_at"]
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=timezone.utc)
    return StoredDocument(
        id=str(record["_id"]),
        title=record["title"],
        filename=record.get("filename"),
        characters=record["characters"],
        chunk_count=record["chunk_count"],
        created_at=created_at.isoformat(),
    )
