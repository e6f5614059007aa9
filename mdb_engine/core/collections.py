"""Create the collections a manifest declares settings for, before anything else touches them."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from mdb_engine.core.manifest.models_indexes import CollectionSettings
from mdb_engine.database import ScopedDatabase

__all__ = ["create_declared_collections"]

logger = logging.getLogger(__name__)


async def create_declared_collections(
    scoped: ScopedDatabase, settings: Mapping[str, CollectionSettings]
) -> list[str]:
    """Create each declared collection that does not exist yet; return the names created.

    An existing collection is left as it is: changing the options of a collection that holds
    data (collMod) is a deliberate migration, not something a restart should do.
    """
    existing = set(await scoped.list_collection_names(filter={"name": {"$in": list(settings)}}))
    created: list[str] = []
    for name in settings:
        if name in existing:
            continue
        await scoped.create_collection(name)
        created.append(name)
        logger.info("app %r: created collection %r with its declared settings", scoped.app_id, name)
    return created
