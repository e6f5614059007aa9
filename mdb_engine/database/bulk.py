"""Scope each request of a ``bulk_write`` with the same rules as the single operations.

PyMongo's request classes keep their arguments in private slots (``_filter``, ``_doc``, ...);
reading them is the only way to rebuild a request, and ``tests/database/test_bulk.py`` covers
every request type so that a change in PyMongo fails loudly instead of silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bson.codec_options import DEFAULT_CODEC_OPTIONS, CodecOptions
from pymongo.operations import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

from mdb_engine.database.canonical import canonical
from mdb_engine.database.rewrite_update import rewrite_replacement, rewrite_update
from mdb_engine.database.scope import (
    assign_new_id,
    check_no_server_javascript,
    scope_filter,
    tag_document,
)
from mdb_engine.errors import ScopeViolation

__all__ = ["scope_requests"]

WriteRequest = InsertOne[Any] | DeleteOne | DeleteMany | ReplaceOne[Any] | UpdateOne | UpdateMany


def scope_requests(
    requests: Sequence[Any], app_id: str, codec_options: CodecOptions[Any] = DEFAULT_CODEC_OPTIONS
) -> list[WriteRequest]:
    """New requests equivalent to ``requests`` within app ``app_id``; all checked before any.

    As PyMongo does, an ``InsertOne`` without ``_id`` gets one set on the caller's document.
    """
    if not isinstance(requests, Sequence) or isinstance(requests, (str, bytes)):
        raise TypeError("requests must be a list")
    scoped = [_scope_request(request, app_id, codec_options) for request in requests]
    # Only once every request passed: set _id on the caller's new documents, as PyMongo does.
    for request, copy in zip(requests, scoped, strict=True):
        if isinstance(request, InsertOne) and isinstance(copy, InsertOne):
            assign_new_id(request._doc, copy._doc)
    return scoped


def _scope_request(request: Any, app_id: str, codec_options: CodecOptions[Any]) -> WriteRequest:
    if getattr(request, "_namespace", None) is not None:
        raise ScopeViolation("a bulk_write request may not name a namespace")
    if isinstance(request, InsertOne):
        return InsertOne(tag_document(request._doc, app_id))
    if not isinstance(request, (UpdateOne, UpdateMany, ReplaceOne, DeleteOne, DeleteMany)):
        raise TypeError(f"{request!r} is not a valid request")
    # Checked and sent in the form the server will read (see canonical.py).
    filter = scope_filter(canonical(request._filter, codec_options), app_id)
    array_filters = canonical(getattr(request, "_array_filters", None), codec_options)
    check_no_server_javascript(array_filters, where="array filter")
    if isinstance(request, UpdateOne):
        return UpdateOne(
            filter,
            rewrite_update(canonical(request._doc, codec_options), app_id),
            upsert=request._upsert,
            collation=request._collation,
            array_filters=array_filters,
            hint=request._hint,
            sort=request._sort,
        )
    if isinstance(request, UpdateMany):
        return UpdateMany(
            filter,
            rewrite_update(canonical(request._doc, codec_options), app_id),
            upsert=request._upsert,
            collation=request._collation,
            array_filters=array_filters,
            hint=request._hint,
        )
    if isinstance(request, ReplaceOne):
        return ReplaceOne(
            filter,
            rewrite_replacement(canonical(request._doc, codec_options), app_id),
            upsert=request._upsert,
            collation=request._collation,
            hint=request._hint,
            sort=request._sort,
        )
    return type(request)(filter, collation=request._collation, hint=request._hint)
