"""Pure rules for ``find_one`` by ``_id`` alone, which skips the ``app_id`` predicate.

``{"_id": x}`` hits the server's ``_id`` fast path; adding ``app_id`` to it costs about 16% per
call (ARCHITECTURE §7). So a lookup by ``_id`` alone is sent bare, on the app's own physical
collection, and the returned document is checked here: one that does not carry the app's
``app_id`` is treated as not found (fail closed). ``app_id`` is kept in the projection for that
check and stripped afterwards when the caller did not ask for it.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bson import Binary, Decimal128, Int64, ObjectId

from mdb_engine.database.scope import APP_ID_FIELD

__all__ = ["IdLookupProjection", "is_id_lookup", "plan_id_lookup_projection"]

# Values that match exactly one _id by equality (no operators, regexes or arrays).
_EXACT_ID_TYPES = frozenset(
    {
        ObjectId,
        str,
        int,
        float,
        Int64,
        Decimal128,
        Binary,
        bytes,
        uuid.UUID,
        datetime.datetime,
    }
)


def is_id_lookup(filter: Any) -> bool:
    """Whether ``filter`` is a plain ``{"_id": <exact value>}`` and nothing else.

    Exact types only: a dict subclass or a ``RawBSONDocument`` could encode differently from
    what Python sees, and those take the scoped path.
    """
    return (
        type(filter) is dict
        and len(filter) == 1
        and "_id" in filter
        and type(filter["_id"]) in _EXACT_ID_TYPES
    )


@dataclass(frozen=True)
class IdLookupProjection:
    """The projection to send, and whether ``app_id`` must be removed from the result."""

    projection: Mapping[str, Any] | None
    strip_app_id: bool


def plan_id_lookup_projection(projection: Any) -> IdLookupProjection | None:
    """How to keep ``app_id`` in the result of ``projection``; ``None`` when it cannot be.

    Projections with operators (``$slice``, ``$elemMatch``, ``$meta``) or paths inside
    ``app_id`` are left to the scoped query.
    """
    if projection is None:
        return IdLookupProjection(None, strip_app_id=False)
    if isinstance(projection, Mapping):
        fields = dict(projection)
    elif isinstance(projection, Iterable) and not isinstance(projection, (str, bytes)):
        names = list(projection)
        if not names or not all(isinstance(name, str) for name in names):
            return None
        fields = dict.fromkeys(names, 1)
    else:
        return None
    if not all(
        isinstance(value, (bool, int)) and value in (0, 1) for value in fields.values()
    ) or any(isinstance(path, str) and path.startswith(APP_ID_FIELD + ".") for path in fields):
        return None
    others = {path: value for path, value in fields.items() if path != "_id"}
    if APP_ID_FIELD in fields:
        if fields[APP_ID_FIELD]:
            return IdLookupProjection(fields, strip_app_id=False)
        if any(value for path, value in others.items() if path != APP_ID_FIELD):
            return None  # mixes inclusion and exclusion: let the server refuse it as usual
        # An exclusion projection: drop the exclusion of app_id and strip it afterwards.
        del fields[APP_ID_FIELD]
        if len(fields) == 1 and "_id" in fields and fields["_id"]:
            del fields["_id"]  # alone, {"_id": 1} would turn into an inclusion projection
        return IdLookupProjection(fields or None, strip_app_id=True)
    is_inclusion = any(others.values()) if others else bool(fields.get("_id", 0))
    if is_inclusion:
        return IdLookupProjection({**fields, APP_ID_FIELD: 1}, strip_app_id=True)
    return IdLookupProjection(fields or None, strip_app_id=False)
