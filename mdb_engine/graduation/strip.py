"""Indexes for a stripped export, whose documents no longer carry ``app_id`` (pure).

In a dedicated database every document belongs to the app, so ``app_id`` is dropped from the
documents; an index that names it is rewritten to stay consistent with them:

- ``app_id`` leaves the key pattern (``{app_id: 1, email: 1}`` becomes ``{email: 1}``; on
  one app's data a uniqueness over both fields is the same as over ``email``). An index on
  ``app_id`` alone is left out. A generated name (``app_id_1_email_1``) follows the new key;
  a chosen name is kept.
- ``app_id: <slug>`` (or ``{$eq: <slug>}``), alone or inside a top-level ``$and``, leaves a
  partial filter: every document of the app matched it.
- Any other use of ``app_id`` in a partial filter cannot be rewritten faithfully and refuses
  the export; so does a rewritten index that would clash with another one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mdb_engine.database.scope import APP_ID_FIELD
from mdb_engine.errors import GraduationError

__all__ = ["StrippedIndexes", "strip_app_id_from_indexes"]

StrippedIndexes = tuple[list[dict[str, Any]], list[str]]


def strip_app_id_from_indexes(
    indexes: Sequence[Mapping[str, Any]], slug: str, collection: str
) -> StrippedIndexes:
    """The indexes of ``collection`` as they should be without ``app_id``, and notes on what
    was left out. Raises ``GraduationError`` when an index cannot be rewritten."""
    rewritten: list[dict[str, Any]] = []
    notes: list[str] = []
    untouched = [dict(index) for index in indexes if not _mentions_app_id(index)]
    for index in indexes:
        if not _mentions_app_id(index):
            rewritten.append(dict(index))
            continue
        where = f"index {index['name']!r} of collection {collection!r}"
        stripped = _strip_index(index, slug, where)
        if stripped is None:
            notes.append(f"{where} is on app_id alone; left out")
            continue
        twin = _same_key(stripped, untouched)
        if twin is not None:
            if stripped.get("unique") and not twin.get("unique"):
                raise GraduationError(
                    f"{where} would become a unique index on {dict(stripped['key'])} "
                    f"next to the non-unique index {twin['name']!r} on the same key; "
                    "make one of them match the other, or export without --strip-prefix"
                )
            notes.append(f"{where} without app_id is the index {twin['name']!r}; left out")
            continue
        if any(other["name"] == stripped["name"] for other in rewritten + untouched):
            raise GraduationError(
                f"{where} would be renamed {stripped['name']!r}, a name already in use; "
                "give it an explicit name, or export without --strip-prefix"
            )
        rewritten.append(stripped)
    return rewritten, notes


def _strip_index(index: Mapping[str, Any], slug: str, where: str) -> dict[str, Any] | None:
    key = dict(index["key"])
    new_key = {field: value for field, value in key.items() if field != APP_ID_FIELD}
    if not new_key:
        return None
    stripped = dict(index)
    stripped["key"] = new_key
    if index["name"] == _generated_name(key):
        stripped["name"] = _generated_name(new_key)
    if "partialFilterExpression" in index:
        partial = _strip_filter(index["partialFilterExpression"], slug, where)
        if partial:
            stripped["partialFilterExpression"] = partial
        else:
            del stripped["partialFilterExpression"]
    return stripped


def _strip_filter(partial: Mapping[str, Any], slug: str, where: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for field, condition in partial.items():
        if field == APP_ID_FIELD and _is_scope_equality(condition, slug):
            continue
        if field == "$and" and isinstance(condition, list):
            kept = [
                clause
                for clause in condition
                if not (
                    isinstance(clause, Mapping)
                    and len(clause) == 1
                    and _is_scope_equality(clause.get(APP_ID_FIELD), slug)
                )
            ]
            for clause in kept:
                _refuse_app_id(clause, where)
            if kept:
                result[field] = kept
            continue
        _refuse_app_id({field: condition}, where)
        result[field] = condition
    return result


def _is_scope_equality(condition: Any, slug: str) -> bool:
    if isinstance(condition, Mapping):
        return list(condition) == ["$eq"] and condition["$eq"] == slug
    return bool(condition == slug)


def _refuse_app_id(value: Any, where: str) -> None:
    if _names_app_id(value):
        raise GraduationError(
            f"{where} uses app_id in its partial filter in a way that cannot be rewritten "
            "once documents no longer carry app_id; change the index, or export without "
            "--strip-prefix"
        )


def _mentions_app_id(index: Mapping[str, Any]) -> bool:
    return APP_ID_FIELD in index["key"] or _names_app_id(index.get("partialFilterExpression"))


def _names_app_id(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(
            field == APP_ID_FIELD or str(field).startswith(APP_ID_FIELD + ".") or _names_app_id(v)
            for field, v in value.items()
        )
    if isinstance(value, list):
        return any(_names_app_id(item) for item in value)
    return False


def _same_key(
    index: Mapping[str, Any], others: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    key = list(index["key"].items())
    for other in others:
        if list(other["key"].items()) == key:
            return other
    return None


def _generated_name(key: Mapping[str, Any]) -> str:
    # The name PyMongo (and the shell) give an index created without one.
    return "_".join(f"{field}_{value}" for field, value in key.items())
