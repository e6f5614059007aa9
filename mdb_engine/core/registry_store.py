"""Persistence of the app registry in MongoDB, so every engine process sees the same apps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

__all__ = ["REGISTRY_COLLECTION", "RegistryStore"]

REGISTRY_COLLECTION = "_mdb_engine_apps"


class RegistryStore:
    """One document per app in ``_mdb_engine_apps``: ``{_id: slug, manifest, fingerprint}``."""

    def __init__(self, database: AsyncDatabase[Mapping[str, Any]]) -> None:
        self._collection = database[REGISTRY_COLLECTION]

    async def fingerprints(self) -> dict[str, str]:
        """Slug -> manifest fingerprint of every persisted app."""
        cursor = self._collection.find({}, {"fingerprint": 1})
        return {doc["_id"]: doc.get("fingerprint", "") async for doc in cursor}

    async def documents(self) -> list[Mapping[str, Any]]:
        """Every persisted app document, sorted by slug."""
        cursor = self._collection.find({}).sort("_id", 1)
        documents: list[Mapping[str, Any]] = await cursor.to_list()
        return documents

    async def save(self, slug: str, manifest: Mapping[str, Any], fingerprint: str) -> None:
        """Insert or replace the app's document."""
        now = datetime.now(timezone.utc)
        await self._collection.update_one(
            {"_id": slug},
            {
                "$set": {
                    "manifest": dict(manifest),
                    "fingerprint": fingerprint,
                    "status": manifest.get("status", "active"),
                    "updated_at": now,
                },
                "$setOnInsert": {"registered_at": now},
            },
            upsert=True,
        )

    async def delete(self, slug: str) -> bool:
        """Remove the app's document; whether there was one."""
        result = await self._collection.delete_one({"_id": slug})
        return result.deleted_count > 0
