"""Which extra keyword arguments each scoped method passes on to PyMongo.

PyMongo copies a method's ``**kwargs`` into the command it builds, after the collection name
and the filter. A keyword named like a command field (``query=``, ``pipeline=``,
``findAndModify=``, ``to=``, ``viewOn=``) would therefore replace what the sandbox wrote, so
only the documented options of each command pass; anything else is refused (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdb_engine.database.scope import check_no_server_javascript
from mdb_engine.errors import ScopeViolation

__all__ = ["ALLOWED_OPTIONS", "check_expressions", "check_no_encrypted_fields", "check_options"]

_FIND_AND_MODIFY = frozenset({"maxTimeMS", "collation", "bypassDocumentValidation"})

ALLOWED_OPTIONS: Mapping[str, frozenset[str]] = {
    "count_documents": frozenset({"skip", "limit", "maxTimeMS", "collation", "hint"}),
    "estimated_document_count": frozenset({"maxTimeMS"}),
    "distinct": frozenset({"maxTimeMS", "collation"}),
    "aggregate": frozenset(
        {
            "allowDiskUse",
            "maxTimeMS",
            "maxAwaitTimeMS",
            "batchSize",
            "collation",
            "hint",
            "bypassDocumentValidation",
        }
    ),
    "find_one_and_update": _FIND_AND_MODIFY,
    "find_one_and_replace": _FIND_AND_MODIFY,
    "find_one_and_delete": _FIND_AND_MODIFY,
    "create_indexes": frozenset({"maxTimeMS", "commitQuorum"}),
    "drop_index": frozenset({"maxTimeMS"}),
    "drop_indexes": frozenset({"maxTimeMS"}),
    "rename": frozenset({"dropTarget"}),
    "list_collection_names": frozenset({"authorizedCollections", "maxTimeMS"}),
    "list_collections": frozenset({"authorizedCollections", "maxTimeMS", "batchSize"}),
    "create_collection": frozenset(
        {
            "validator",
            "validationLevel",
            "validationAction",
            "collation",
            "capped",
            "size",
            "max",
            "timeseries",
            "expireAfterSeconds",
            "clusteredIndex",
            "changeStreamPreAndPostImages",
            "storageEngine",
            "indexOptionDefaults",
            "maxTimeMS",
        }
    ),
}


def check_options(method: str, options: Mapping[str, Any]) -> None:
    """Raise ScopeViolation if ``options`` holds a keyword ``method`` may not pass on."""
    allowed = ALLOWED_OPTIONS[method]
    refused = sorted(set(options) - allowed)
    if refused:
        raise ScopeViolation(
            f"{method}() does not accept {', '.join(map(repr, refused))} on a scoped "
            f"collection (allowed: {', '.join(sorted(allowed))})"
        )
    check_expressions(options)


def check_expressions(*values: Any) -> None:
    """Refuse server-side JavaScript in projections, ``let`` variables and array filters."""
    for value in values:
        check_no_server_javascript(value, where="command")


def check_no_encrypted_fields(encrypted_fields: Any) -> None:
    """Refuse ``encrypted_fields``: its auxiliary collections could name any namespace."""
    if encrypted_fields is not None:
        raise ScopeViolation(
            "encrypted_fields is not supported on a scoped collection: Queryable Encryption "
            "names auxiliary collections outside the app"
        )
