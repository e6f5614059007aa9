"""Seed a manifest's ``initial_data`` once per collection, through the scoped API.

A marker document in ``_mdb_engine_initial_data`` records each seeded collection. It is
claimed before the documents are written, so two workers starting together seed once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from mdb_engine.database import ScopedDatabase

__all__ = ["SEED_MARKERS_COLLECTION", "seed_initial_data"]

logger = logging.getLogger(__name__)

SEED_MARKERS_COLLECTION = "_mdb_engine_initial_data"


async def seed_initial_data(
    database: AsyncDatabase[Mapping[str, Any]],
    scoped: ScopedDatabase,
    initial_data: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[str]:
    """Insert each collection's documents unless already seeded; returns the seeded names."""
    markers = database[SEED_MARKERS_COLLECTION]
    seeded: list[str] = []
    for collection, documents in initial_data.items():
        marker_id = f"{scoped.app_id}/{collection}"
        try:
            await markers.insert_one(
                {"_id": marker_id, "state": "seeding", "at": datetime.now(timezone.utc)}
            )
        except DuplicateKeyError:
            continue  # seeded before, or being seeded by another worker right now
        try:
            if documents:
                # Copies: the manifest's own documents must not gain an _id.
                await scoped[collection].insert_many([dict(doc) for doc in documents])
        except Exception:
            await markers.delete_one({"_id": marker_id})  # let a later start try again
            raise
        await markers.update_one({"_id": marker_id}, {"$set": {"state": "done"}})
        logger.info(
            "app %r: seeded %d document(s) into %r", scoped.app_id, len(documents), collection
        )
        seeded.append(collection)
    return seeded
