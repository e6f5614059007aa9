"""Pure rewrite rules that keep every query and document inside one app's scope.

Every function here is dict in, dict out, with no I/O, and never mutates its arguments, except
``assign_new_id``, which sets ``_id`` on a new document as PyMongo does.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from bson import ObjectId

from mdb_engine.database.depth import MAX_NESTING_DEPTH, check_nesting_depth, too_deep
from mdb_engine.errors import ScopeViolation

__all__ = [
    "APP_ID_FIELD",
    "assign_new_id",
    "check_no_server_javascript",
    "is_app_id_path",
    "scope_filter",
    "tag_document",
]

APP_ID_FIELD = "app_id"

# Operators that run server-side JavaScript: refused anywhere in user input (fail closed).
_JAVASCRIPT_OPERATORS = frozenset({"$where", "$function", "$accumulator"})
# Values with nothing inside to check.
_LEAF_TYPES = frozenset({str, int, float, bool, type(None), ObjectId})


def check_no_server_javascript(value: Any, *, where: str = "filter") -> None:
    """Raise ScopeViolation if ``value`` uses an operator that runs server-side JavaScript,
    InputTooDeep if it is nested deeper than MongoDB accepts (checked before anything else
    walks it, so no rule recurses into it)."""
    _check_expression(value, where, MAX_NESTING_DEPTH)


def _check_expression(value: Any, where: str, depth_left: int) -> None:
    # Exact type checks first: this runs on every call, and ABC isinstance checks are slow.
    kind = type(value)
    if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
        if depth_left == 0:
            raise too_deep(where)
        for key, item in value.items():
            if key in _JAVASCRIPT_OPERATORS:
                raise ScopeViolation(f"{key} is not allowed in a scoped {where}")
            if type(item) not in _LEAF_TYPES:
                _check_expression(item, where, depth_left - 1)
    elif kind is list or kind is tuple:
        if depth_left == 0:
            raise too_deep(where)
        for item in value:
            if type(item) not in _LEAF_TYPES:
                _check_expression(item, where, depth_left - 1)


def is_app_id_path(path: object) -> bool:
    """Whether a field path is ``app_id`` or inside it (``app_id.x``, ``app_id.$[]``)."""
    return isinstance(path, str) and (path == APP_ID_FIELD or path.startswith(APP_ID_FIELD + "."))


def scope_filter(user_filter: Mapping[str, Any] | None, app_id: str) -> dict[str, Any]:
    """The filter that matches what ``user_filter`` matches within app ``app_id`` only."""
    if user_filter is None:
        return {APP_ID_FIELD: app_id}
    if not isinstance(user_filter, Mapping):
        raise TypeError(f"filter must be a mapping, not {type(user_filter).__name__}")
    if not user_filter:
        return {APP_ID_FIELD: app_id}
    check_no_server_javascript(user_filter)
    own_filter = dict(user_filter)
    if APP_ID_FIELD in own_filter and _is_own_id(own_filter[APP_ID_FIELD], app_id):
        # The app naming its own id adds nothing, and twice the same equality would stop an
        # upsert ("path 'app_id' is matched twice").
        del own_filter[APP_ID_FIELD]
        if not own_filter:
            return {APP_ID_FIELD: app_id}
    return {"$and": [own_filter, {APP_ID_FIELD: app_id}]}


def _is_own_id(condition: Any, app_id: str) -> bool:
    """Whether a condition on app_id is just ``app_id == app_id`` (plain, $eq or $in of one)."""
    if isinstance(condition, Mapping) and len(condition) == 1:
        (operator, value), *_ = condition.items()
        if operator == "$eq":
            condition = value
        elif operator == "$in" and isinstance(value, (list, tuple)) and len(value) == 1:
            condition = value[0]
    return isinstance(condition, str) and condition == app_id


def assign_new_id(original: Any, tagged: dict[str, Any]) -> None:
    """Give a new document an ``_id`` before it is sent, as PyMongo does.

    The tagged copy gets the ``_id`` and so does the caller's document, when it can take one
    (a ``RawBSONDocument`` cannot). A document already given an ``_id`` earlier in the same
    batch keeps it, so inserting one dict twice fails on the server as it does in PyMongo.
    """
    if "_id" in tagged:
        return
    if isinstance(original, MutableMapping) and "_id" in original:
        tagged["_id"] = original["_id"]
        return
    tagged["_id"] = ObjectId()
    if isinstance(original, MutableMapping):
        original["_id"] = tagged["_id"]


def tag_document(document: Mapping[str, Any], app_id: str) -> dict[str, Any]:
    """A copy of ``document`` tagged with ``app_id``; a foreign ``app_id`` is refused."""
    if not isinstance(document, Mapping):
        raise TypeError(f"document must be a mapping, not {type(document).__name__}")
    if APP_ID_FIELD in document and document[APP_ID_FIELD] != app_id:
        raise ScopeViolation(
            f"document carries {APP_ID_FIELD}={document[APP_ID_FIELD]!r}; "
            f"this collection belongs to app {app_id!r}"
        )
    check_nesting_depth(document)
    tagged = dict(document)
    tagged[APP_ID_FIELD] = app_id
    return tagged
