"""Create the indexes a manifest declares (regular, unique, sparse, partial, TTL, text, geo,
hashed, wildcard). Atlas Search and Vector Search definitions are reported, not created."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from mdb_engine.database.names import physical_name

if TYPE_CHECKING:  # indexes/ does not depend on core/ at run time (ARCHITECTURE §1)
    from mdb_engine.core.manifest import IndexSpec

__all__ = ["SEARCH_INDEX_TYPES", "create_declared_indexes", "index_model"]

logger = logging.getLogger(__name__)

SEARCH_INDEX_TYPES = frozenset({"vectorSearch", "search"})
_OPTION_FIELDS = (
    "unique",
    "sparse",
    "hidden",
    "expireAfterSeconds",
    "partialFilterExpression",
    "weights",
    "default_language",
    "language_override",
    "collation",
    "wildcardProjection",
)


def index_model(spec: IndexSpec) -> IndexModel:
    """The PyMongo ``IndexModel`` for a (non-search) declared index."""
    if spec.type in SEARCH_INDEX_TYPES or not spec.keys:
        raise ValueError(f"{spec.type!r} index has no regular index model")
    options: dict[str, Any] = {}
    if spec.name:
        options["name"] = spec.name
    for field in _OPTION_FIELDS:
        value = getattr(spec, field)
        if value is not None:
            options[field] = value
    return IndexModel(list(spec.keys.items()), **options)


async def create_declared_indexes(
    database: AsyncDatabase[Mapping[str, Any]],
    slug: str,
    managed_indexes: Mapping[str, Sequence[IndexSpec]],
) -> list[str]:
    """Create the declared indexes, one ``createIndexes`` per collection, collections at once.

    Returns the names of the indexes the server reports for the declarations.
    """
    jobs = []
    for collection, specs in managed_indexes.items():
        models = [index_model(spec) for spec in specs if spec.type not in SEARCH_INDEX_TYPES]
        skipped = [spec.name or spec.type for spec in specs if spec.type in SEARCH_INDEX_TYPES]
        if skipped:
            logger.warning(
                "app %r: Atlas Search/Vector Search indexes %s on %r are not created: "
                "this version of mdb-engine does not manage search indexes yet",
                slug,
                skipped,
                collection,
            )
        if models:
            target = database[physical_name(slug, collection)]
            jobs.append(target.create_indexes(models))
    created = await asyncio.gather(*jobs)
    return [name for names in created for name in names]
