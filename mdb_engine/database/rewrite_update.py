"""Pure rewrite rules for updates and replacements within one app's scope.

Operator updates may not touch ``app_id``; pipeline updates end with a ``$set`` of it;
replacements carry it. Nothing here mutates its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.common import validate_ok_for_replace, validate_ok_for_update

from mdb_engine.database.scope import (
    APP_ID_FIELD,
    check_no_server_javascript,
    is_app_id_path,
    tag_document,
)
from mdb_engine.errors import ScopeViolation

__all__ = ["UPDATE_PIPELINE_STAGES", "rewrite_replacement", "rewrite_update"]

# The stages MongoDB accepts in an update pipeline.
UPDATE_PIPELINE_STAGES = frozenset(
    {"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"}
)


def rewrite_update(update: Any, app_id: str) -> Mapping[str, Any] | list[Mapping[str, Any]]:
    """The update to send for app ``app_id``: operator form checked, pipeline form stamped.

    Raises ``ScopeViolation`` for an update that would change or remove ``app_id``, and
    PyMongo's own ``TypeError``/``ValueError`` for an update PyMongo would not send.
    """
    validate_ok_for_update(update)
    if isinstance(update, Mapping):
        _check_operator_update(update)
        return update
    return rewrite_update_pipeline(update, app_id)


def rewrite_update_pipeline(pipeline: Sequence[Any], app_id: str) -> list[Mapping[str, Any]]:
    """An update pipeline followed by ``{"$set": {"app_id": app_id}}``."""
    stages: list[Mapping[str, Any]] = []
    for position, stage in enumerate(pipeline):
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise ScopeViolation(
                f"update pipeline stage {position} must be a document with exactly one stage name"
            )
        (name, spec), *_ = stage.items()
        if name not in UPDATE_PIPELINE_STAGES:
            allowed = ", ".join(sorted(UPDATE_PIPELINE_STAGES))
            raise ScopeViolation(
                f"{name!r} is not allowed in an update pipeline (allowed: {allowed})"
            )
        check_no_server_javascript(spec, where="update")
        _check_pipeline_stage_fields(name, spec)
        stages.append(stage)
    stages.append({"$set": {APP_ID_FIELD: app_id}})
    return stages


def rewrite_replacement(replacement: Any, app_id: str) -> dict[str, Any]:
    """A replacement document tagged with ``app_id``; a foreign ``app_id`` is refused."""
    validate_ok_for_replace(replacement)
    return tag_document(replacement, app_id)


def _check_operator_update(update: Mapping[str, Any]) -> None:
    check_no_server_javascript(update, where="update")
    for operator, fields in update.items():
        if not isinstance(fields, Mapping):
            # The server rejects it with its own error; nothing here can name app_id.
            continue
        for path, value in fields.items():
            if is_app_id_path(path):
                raise _touches_app_id(f"{operator} on {path!r}")
            if operator == "$rename" and is_app_id_path(value):
                raise _touches_app_id(f"$rename of {path!r} onto {value!r}")


def _check_pipeline_stage_fields(name: str, spec: Any) -> None:
    # A final $set restores app_id anyway (after $replaceWith or $project dropped it); a stage
    # that names the field explicitly is refused, so an update never silently does something
    # other than what it says.
    if name in ("$set", "$addFields", "$project") and isinstance(spec, Mapping):
        named = [path for path in spec if is_app_id_path(path)]
    elif name == "$unset":
        paths = [spec] if isinstance(spec, str) else spec if isinstance(spec, list) else []
        named = [path for path in paths if is_app_id_path(path)]
    else:
        return
    if named:
        raise _touches_app_id(f"{name} of {named[0]!r} in an update pipeline")


def _touches_app_id(what: str) -> ScopeViolation:
    return ScopeViolation(
        f"{what} is refused: {APP_ID_FIELD!r} is managed by the engine and cannot be changed"
    )
