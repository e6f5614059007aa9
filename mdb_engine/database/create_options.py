"""Pure rules for the options of ``create_collection``: declared settings plus the call's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdb_engine.database.scope import APP_ID_FIELD

__all__ = ["creation_options", "validator_allowing_app_id"]


def creation_options(
    declared: Mapping[str, Any] | None, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The manifest's options for a collection, overridden by the caller's keyword arguments."""
    options = {**(declared or {}), **overrides}
    if isinstance(options.get("validator"), Mapping):
        options["validator"] = validator_allowing_app_id(options["validator"])
    return options


def validator_allowing_app_id(validator: Mapping[str, Any]) -> Mapping[str, Any]:
    """``validator``, with ``app_id`` allowed when its ``$jsonSchema`` forbids unknown fields.

    Every document carries ``app_id``; a schema with ``additionalProperties: false`` that does
    not list it would otherwise refuse every insert.
    """
    schema = validator.get("$jsonSchema")
    if not isinstance(schema, Mapping) or schema.get("additionalProperties", True) is not False:
        return validator
    properties = schema.get("properties") or {}
    if APP_ID_FIELD in properties:
        return validator
    allowed = {**properties, APP_ID_FIELD: {"bsonType": "string"}}
    return {**validator, "$jsonSchema": {**schema, "properties": allowed}}
