"""Building blocks shared by the manifest models: the base model, constrained string types and
the helpers that turn a broken cross-field rule into a path-precise validation error."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from mdb_engine.database.names import (
    MAX_COLLECTION_NAME_LENGTH,
    SLUG_PATTERN,
    collection_name_problem,
)

__all__ = [
    "HINT_CONTEXT_KEY",
    "RULE_ERROR_TYPE",
    "SLUG_PATTERN",
    "CollectionName",
    "EmailAddress",
    "EndpointPath",
    "HttpPath",
    "Location",
    "ManifestModel",
    "NonEmptyStr",
    "Slug",
    "Violation",
    "check_http_path",
    "describe_value",
    "manifest_keys",
    "render_path",
    "rule_error",
    "rule_violations",
    "suggest_slug",
]

RULE_ERROR_TYPE = "manifest_rule"
HINT_CONTEXT_KEY = "mdb_hint"

# The JSON Schema cannot call Python, so the sandbox's collection-name rules are restated as a
# pattern a valid name matches and one it must NOT match (no look-ahead: not every editor's
# regex engine has it).
_COLLECTION_NAME_JSON_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_COLLECTION_NAME_FORBIDDEN_JSON_PATTERN = r"^system\.|\.\.|\.$"
_PATH_PARAMETER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?::(?:str|int|float|uuid|path))?\}")
_URL_SAFE_PATH = re.compile(r"[A-Za-z0-9\-._~/]*")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WHITESPACE = re.compile(r"\s+")
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")

Location = tuple[str | int, ...]
# (location relative to the validated value, message, hint, offending value)
Violation = tuple[Location, str, str | None, Any]


class ManifestModel(BaseModel):
    """Base of every manifest model: unknown keys are errors, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def manifest_keys(model: type[BaseModel]) -> frozenset[str]:
    """The keys a manifest may write in ``model``: each field's alias, else its name."""
    return frozenset(field.alias or name for name, field in model.model_fields.items())


def rule_error(message: str, hint: str | None = None) -> PydanticCustomError:
    """An error for a manifest rule that pydantic cannot express by itself."""
    return PydanticCustomError(RULE_ERROR_TYPE, message, {HINT_CONTEXT_KEY: hint})


def rule_violations(title: str, violations: Iterable[Violation]) -> ValidationError:
    """Several rule errors at once, each at its own location (relative to the validated value).

    Pydantic merges a ``ValidationError`` raised inside a validator into the outer one, prefixing
    each location, so one validator can report every broken rule, not just the first.
    """
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(type=rule_error(message, hint), loc=location, input=value)
            for location, message, hint, value in violations
        ],
    )


def render_path(location: Location) -> str:
    """``('managed_indexes', 'tasks', 0, 'keys')`` -> ``$.managed_indexes.tasks[0].keys``.

    Keys that are identifiers are dotted; any other key is quoted in brackets
    (``$.collection_settings["my-coll"]``); list positions are ``[n]``.
    """
    parts = ["$"]
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(parts)


def describe_value(value: Any) -> str:
    """A short JSON-style rendering of a value for messages: ``"yes"``, ``3``, ``null``, ``an
    object``."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "an integer too large for MongoDB (more than 64 bits)"
    if value is None or isinstance(value, (bool, int, float, str)):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else f"{text[:57]}..."
    return f"a value of type {type(value).__name__!r}"


def suggest_slug(value: str) -> str:
    """A valid slug close to ``value`` (lowercased, invalid characters replaced by ``_``)."""
    slug = re.sub(r"[^a-z0-9_-]+", "_", value.strip().lower()).strip("_-")
    if not slug or not slug[0].isalpha():
        slug = f"app_{slug}".rstrip("_")
    if len(slug) < 2:
        slug = f"{slug}_app"
    return slug[:63]


def _check_collection_name(name: str) -> str:
    # The sandbox's own rule, so a manifest never declares a collection it could not reach.
    problem = collection_name_problem(name)
    if problem is None:
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.removeprefix("system.")).strip("_.-")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:MAX_COLLECTION_NAME_LENGTH]
    hint = f"e.g. {cleaned!r}" if cleaned else "use a name such as 'items'"
    raise rule_error(f"invalid collection name {name!r}: {problem}", hint)


def _check_email(value: str) -> str:
    if "@" not in value.strip("@"):
        raise rule_error(
            f"expected an email address, got {describe_value(value)}", 'e.g. "demo@example.com"'
        )
    return value


def check_http_path(path: str, *, allow_parameters: bool = False) -> str:
    """Validate a URL path such as ``/ws`` or ``/ws/{room}``; raise a rule error otherwise."""
    problem: str | None = None
    hint: str | None = None
    if not path.startswith("/"):
        problem, hint = "must start with '/'", f"use {describe_value('/' + path.strip())}"
    elif any(character.isspace() for character in path):
        problem = "must not contain whitespace"
        hint = f"use {describe_value(_WHITESPACE.sub('-', path.strip()))}"
    elif "?" in path or "#" in path:
        problem = "must not contain a query string or fragment ('?' or '#')"
        hint = f"use {describe_value(_QUERY_OR_FRAGMENT.split(path, maxsplit=1)[0])}"
    elif ".." in path.split("/"):
        problem = "must not contain a '..' segment"
    else:
        rest = _PATH_PARAMETER.sub("", path) if allow_parameters else path
        if not _URL_SAFE_PATH.fullmatch(rest):
            bad = sorted(
                {character for character in rest if not _URL_SAFE_PATH.fullmatch(character)}
            )
            problem = f"contains characters that are not URL-safe: {' '.join(bad)}"
            hint = "use letters, digits, '-', '.', '_', '~' and '/'"
            if allow_parameters:
                hint += ", and {name} for a path parameter"
    if problem is None:
        return path
    raise rule_error(f"invalid path {describe_value(path)}: {problem}", hint)


def _check_endpoint_path(path: str) -> str:
    return check_http_path(path, allow_parameters=True)


NonEmptyStr = Annotated[str, Field(min_length=1)]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
CollectionName = Annotated[
    str,
    AfterValidator(_check_collection_name),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_COLLECTION_NAME_LENGTH,
            # Inside allOf: pydantic would move a bare dict-key pattern to patternProperties.
            "allOf": [{"pattern": _COLLECTION_NAME_JSON_PATTERN}],
            "not": {"pattern": _COLLECTION_NAME_FORBIDDEN_JSON_PATTERN},
            "description": "A logical collection name: ASCII letters, digits, '_', '-' and '.', "
            "starting with a letter or digit, not starting with 'system.'.",
        }
    ),
]
EmailAddress = Annotated[str, AfterValidator(_check_email)]
HttpPath = Annotated[str, AfterValidator(check_http_path)]
EndpointPath = Annotated[str, AfterValidator(_check_endpoint_path)]
