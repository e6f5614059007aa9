"""Compare schemas and documents field by field (pure: no I/O).

Fields are named by path: ``address.city`` for a nested field, ``tags[]`` for the elements of an
array, ``items[].sku`` for a field of objects inside an array. The engine's top-level ``app_id``
is never reported: every document carries it and the engine allows it in every validator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

__all__ = ["FieldSpec", "document_fields", "new_fields", "schema_diff", "schema_fields"]

APP_ID_FIELD = "app_id"


class FieldSpec(TypedDict):
    """What a schema says of one field: its BSON types (``None``: any type) and if required."""

    bsonType: list[str] | None
    required: bool


def _child(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def schema_fields(schema: Mapping[str, Any]) -> dict[str, FieldSpec]:
    """Every field a ``$jsonSchema`` describes, by path."""
    fields: dict[str, FieldSpec] = {}
    _collect_schema(schema, "", fields)
    fields.pop(APP_ID_FIELD, None)
    return fields


def _types_of(node: Mapping[str, Any]) -> list[str] | None:
    declared = node.get("bsonType", node.get("type"))
    if declared is None:
        return None
    return sorted({declared} if isinstance(declared, str) else set(declared))


def _collect_schema(node: Mapping[str, Any], prefix: str, fields: dict[str, FieldSpec]) -> None:
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        required = node.get("required") or []
        for key, child in properties.items():
            if not isinstance(child, Mapping):
                continue
            path = _child(prefix, key)
            fields[path] = {"bsonType": _types_of(child), "required": key in required}
            _collect_schema(child, path, fields)
    items = node.get("items")
    if isinstance(items, Mapping):
        path = f"{prefix}[]"
        fields[path] = {"bsonType": _types_of(items), "required": False}
        _collect_schema(items, path, fields)


def document_fields(document: Mapping[str, Any]) -> set[str]:
    """The paths of every field present in ``document`` (``app_id`` left out)."""
    paths: set[str] = set()
    _collect_document(document, "", paths)
    paths.discard(APP_ID_FIELD)
    return paths


def _collect_document(value: Any, prefix: str, paths: set[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = _child(prefix, key)
            paths.add(path)
            _collect_document(item, path, paths)
    elif isinstance(value, (list, tuple)):
        for element in value:
            paths.add(f"{prefix}[]")
            _collect_document(element, f"{prefix}[]", paths)


def new_fields(
    documents: Iterable[Mapping[str, Any]], schema: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Fields present in ``documents`` that ``schema`` does not describe, with how many
    documents hold each, most frequent first."""
    described = schema_fields(schema)
    counts: Counter[str] = Counter()
    for document in documents:
        counts.update(path for path in document_fields(document) if path not in described)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"path": path, "documents": count} for path, count in ordered]


def schema_diff(applied: Mapping[str, Any], inferred: Mapping[str, Any]) -> dict[str, Any]:
    """How a fresh inference differs from the applied schema.

    ``added``: fields only the inference has; ``removed``: fields only the applied schema has
    (no longer seen); ``changed``: fields whose types or required-ness differ.
    """
    before = schema_fields(applied)
    after = schema_fields(inferred)
    added = [{"path": path, **spec} for path, spec in after.items() if path not in before]
    removed = [{"path": path, **spec} for path, spec in before.items() if path not in after]
    changed = [
        {"path": path, "applied": before[path], "inferred": spec}
        for path, spec in after.items()
        if path in before and before[path] != spec
    ]
    return {"added": added, "removed": removed, "changed": changed}
