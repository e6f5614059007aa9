"""Infer a MongoDB ``$jsonSchema`` from sample documents (pure: documents in, schema out).

MongoDB's ``$jsonSchema`` speaks BSON types (``bsonType: "objectId"``, ``"int"``, ``"date"``…),
which a generic JSON Schema generator does not know, so the rules are written here:

- every field gets the BSON type names of the values seen for it, one name or a list (a union);
- a field is ``required`` when it is present in every sampled object at its level;
- objects get ``properties`` (and ``required``), arrays get ``items`` merged from every element;
- the engine's own ``app_id`` field (top level) is left out: the engine manages it.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from bson import Code, DBRef, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS

__all__ = ["BSON_TYPE_ORDER", "bson_type_name", "infer_schema"]

APP_ID_FIELD = "app_id"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# The order type names are listed in a union, so the same samples always give the same schema.
BSON_TYPE_ORDER = (
    "objectId",
    "string",
    "int",
    "long",
    "double",
    "decimal",
    "bool",
    "date",
    "timestamp",
    "object",
    "array",
    "binData",
    "regex",
    "javascript",
    "null",
    "minKey",
    "maxKey",
)


def bson_type_name(value: Any) -> str:
    """The ``bsonType`` name MongoDB gives ``value`` once stored (as PyMongo encodes it)."""
    # Subclasses first: bool is an int, Int64 is an int, Code is a str, Binary is bytes.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int" if INT32_MIN <= value <= INT32_MAX else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Code):
        return "javascript"
    if isinstance(value, str):
        return "string"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, (datetime.datetime, DatetimeMS)):
        return "date"
    if isinstance(value, Decimal128):
        return "decimal"
    if isinstance(value, (Mapping, DBRef)):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, (bytes, uuid.UUID)):
        return "binData"
    if isinstance(value, (Regex, re.Pattern)):
        return "regex"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, MinKey):
        return "minKey"
    if isinstance(value, MaxKey):
        return "maxKey"
    raise TypeError(f"no BSON type for a value of type {type(value).__name__}")


class _Shape:
    """What has been seen at one place of the documents: types, object keys, array elements."""

    __slots__ = ("items", "objects", "presence", "properties", "types")

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.objects = 0  # how many objects were seen here (the base of ``required``)
        self.properties: dict[str, _Shape] = {}
        self.presence: dict[str, int] = {}  # per key: how many of those objects held it
        self.items: _Shape | None = None

    def observe(self, value: Any, *, skip: frozenset[str] = frozenset()) -> None:
        """Record one value seen at this place; ``skip`` names object keys to leave out."""
        kind = bson_type_name(value)
        self.types.add(kind)
        if kind == "object" and isinstance(value, Mapping):
            self.objects += 1
            for key, item in value.items():
                if key in skip:
                    continue
                self.properties.setdefault(key, _Shape()).observe(item)
                self.presence[key] = self.presence.get(key, 0) + 1
        elif kind == "array":
            for element in value:
                if self.items is None:
                    self.items = _Shape()
                self.items.observe(element)

    def schema(self, *, strict: bool) -> dict[str, Any]:
        """This place as a ``$jsonSchema`` node."""
        names = [name for name in BSON_TYPE_ORDER if name in self.types]
        node: dict[str, Any] = {"bsonType": names[0] if len(names) == 1 else names}
        if self.properties:
            required = [key for key in self.properties if self.presence[key] == self.objects]
            if required:
                node["required"] = required
            node["properties"] = {
                key: shape.schema(strict=strict) for key, shape in self.properties.items()
            }
        if "object" in self.types and strict:
            node["additionalProperties"] = False
        if self.items is not None:
            node["items"] = self.items.schema(strict=strict)
        return node


def infer_schema(documents: Iterable[Mapping[str, Any]], *, strict: bool = False) -> dict[str, Any]:
    """The ``$jsonSchema`` that every one of ``documents`` matches.

    ``strict`` adds ``additionalProperties: false`` to every object, so fields never seen in the
    samples are refused; by default new fields are allowed (and reported as drift).
    Raises ``ValueError`` when there is no document, ``TypeError`` for a non-BSON value.
    """
    root = _Shape()
    for document in documents:
        if not isinstance(document, Mapping):
            raise TypeError(f"a document must be a mapping, not {type(document).__name__}")
        root.observe(document, skip=frozenset({APP_ID_FIELD}))
    if root.objects == 0:
        raise ValueError("no documents to infer a schema from")
    return root.schema(strict=strict)
