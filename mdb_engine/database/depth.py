"""How deep user input may be nested: MongoDB's own limit, checked before anything walks it.

Every rule of the sandbox walks its input recursively. Input nested far deeper than MongoDB
accepts would exhaust Python's stack (a ``RecursionError``, a traceback); it is refused with
``InputTooDeep`` instead, as soon as the walk passes the limit, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from mdb_engine.errors import InputTooDeep

__all__ = ["MAX_NESTING_DEPTH", "check_nesting_depth", "too_deep"]

# MongoDB's limit on the nesting of a command's BSON (documents and arrays). Stored documents
# are limited to 180 levels and queries further by the server itself, which answers those
# with its own error; deeper input is refused here, before any rule walks it.
MAX_NESTING_DEPTH = 200
_LEAF_TYPES = frozenset({str, int, float, bool, type(None), ObjectId})


def check_nesting_depth(value: Any, *, where: str = "document") -> None:
    """Raise InputTooDeep if ``value`` (a document) is nested deeper than MongoDB accepts."""
    _check_depth(value, where, MAX_NESTING_DEPTH)


def _check_depth(value: Any, where: str, depth_left: int) -> None:
    kind = type(value)
    if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
        items: Any = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return
    if depth_left == 0:
        raise too_deep(where)
    for item in items:
        if type(item) not in _LEAF_TYPES:
            _check_depth(item, where, depth_left - 1)


def too_deep(where: str) -> InputTooDeep:
    """The error for input nested deeper than ``MAX_NESTING_DEPTH``."""
    return InputTooDeep(
        f"the {where} is nested more than {MAX_NESTING_DEPTH} levels deep (documents and "
        f"arrays), more than MongoDB accepts; nothing was sent"
    )
