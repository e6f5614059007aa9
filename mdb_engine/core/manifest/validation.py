"""Parsing and checking manifests, with every problem reported at its JSON path.

Pydantic's errors are translated here, in one place, into :class:`ManifestProblem`s: paths in
the ``$.a.b[0]`` form (see :func:`render_path`), messages that say what was expected and what was
given, and hints (``did you mean 'managed_indexes'?``) computed from the keys the model allows at
the error's location.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mdb_engine.core.manifest.fields import (
    HINT_CONTEXT_KEY,
    RULE_ERROR_TYPE,
    SLUG_PATTERN,
    Location,
    describe_value,
    render_path,
    suggest_slug,
)
from mdb_engine.core.manifest.json_file import MAX_DEPTH, read_json_file
from mdb_engine.core.manifest.migration import LEGACY_KEYS, MigrationResult, plan_migration
from mdb_engine.core.manifest.models import AppManifest
from mdb_engine.errors import ManifestError, ManifestProblem

__all__ = ["check_manifest", "load_manifest_file", "parse_manifest", "problems_from_error"]

_EXPECTED_KIND = {
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "dict_type": "an object",
    "mapping_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "tuple_type": "an array",
    "none_required": "null",
}
_COMPARISONS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}
# A quoted value longer than 80 characters, to be cut short in messages.
_QUOTED_LONG = re.compile(r"(['\"])([^'\"]{57})[^'\"]{24,}\1")
_SLUG_RULE = (
    "a slug is 2-63 characters: a lowercase letter, then lowercase letters, digits, '_', '-'"
)


def parse_manifest(data: Mapping[str, Any], *, source: str | None = None) -> AppManifest:
    """Validate ``data`` (schema 2.0, or 1.0 which is migrated with a ``DeprecationWarning``).

    Raises :class:`ManifestError` listing every problem found, each at its JSON path.
    """
    manifest, migration = _validate(data, source)
    if migration.was_migrated:
        warnings.warn(migration.deprecation_message(source), DeprecationWarning, stacklevel=2)
    return manifest


def check_manifest(data: Any) -> tuple[bool, list[str]]:
    """``(True, [])`` for a valid manifest, else ``(False, [one line per problem])``; never raises
    for bad input and emits no deprecation warning."""
    try:
        _validate(data, None)
    except ManifestError as error:
        return False, [str(problem) for problem in error.problems]
    return True, []


def load_manifest_file(path: str | os.PathLike[str]) -> AppManifest:
    """Read and validate a ``manifest.json`` (blocking I/O: call it from a thread in async code)."""
    source = str(path)
    manifest, migration = _validate(read_json_file(Path(path), source), source)
    if migration.was_migrated:
        warnings.warn(migration.deprecation_message(source), DeprecationWarning, stacklevel=2)
    return manifest


def problems_from_error(
    error: ValidationError, migration: MigrationResult | None = None
) -> list[ManifestProblem]:
    """Translate a pydantic ``ValidationError`` of :class:`AppManifest` into problems."""
    translator = _Translator(migration or MigrationResult(data={}))
    return _unique(translator.problem(details) for details in error.errors())


def _validate(data: Any, source: str | None) -> tuple[AppManifest, MigrationResult]:
    if not isinstance(data, Mapping):
        problem = ManifestProblem(
            "$", f"expected an object, got {describe_value(data)}", "a manifest is a JSON object"
        )
        raise ManifestError([problem], source)
    too_deep = _too_deep(data)
    if too_deep is not None:
        problem = ManifestProblem(
            render_path(too_deep),
            f"nested more than {MAX_DEPTH} levels deep",
            "a manifest is stored in MongoDB, and no real one comes near this depth",
        )
        raise ManifestError([problem], source)
    migration = plan_migration(data)
    problems = list(migration.problems)
    try:
        manifest = AppManifest.model_validate(migration.data)
    except ValidationError as error:
        problems.extend(problems_from_error(error, migration))
    if problems:
        raise ManifestError(_unique(_shortened(problem) for problem in problems), source)
    return manifest, migration


def _shortened(problem: ManifestProblem) -> ManifestProblem:
    """``problem`` with long quoted values cut short: a rule may quote what it was given, and
    a message should name a value, not repeat a megabyte of it."""
    hint = _QUOTED_LONG.sub(r"\1\2...\1", problem.hint) if problem.hint else problem.hint
    return ManifestProblem(
        _QUOTED_LONG.sub(r"\1\2...\1", problem.path),
        _QUOTED_LONG.sub(r"\1\2...\1", problem.message),
        hint,
    )


def _too_deep(data: Any) -> Location | None:
    """Where ``data`` is nested more than ``MAX_DEPTH`` objects and arrays deep (walked without
    recursion, so that no depth can exhaust Python's stack), or ``None``."""
    pending: list[tuple[Location, Any]] = [((), data)]
    while pending:
        location, value = pending.pop()
        if isinstance(value, Mapping):
            children: Iterable[tuple[Any, Any]] = value.items()
        elif isinstance(value, (list, tuple)):
            children = enumerate(value)
        else:
            continue
        if len(location) >= MAX_DEPTH:
            return location
        pending.extend(
            ((*location, key if isinstance(key, (str, int)) else repr(key)), child)
            for key, child in children
        )
    return None


def _unique(problems: Iterable[ManifestProblem]) -> list[ManifestProblem]:
    return list(dict.fromkeys(problems))


class _Translator:
    """Turns one pydantic error into one :class:`ManifestProblem`."""

    def __init__(self, migration: MigrationResult) -> None:
        self.migration = migration

    def problem(self, details: ErrorDetails) -> ManifestProblem:
        location: Location = tuple(details["loc"])
        if location and location[-1] == "[key]":
            location = location[:-1]  # an error in a dict key is reported at the key's path
        original = self.migration.original_location(location)
        message, hint = self._describe(details, location, original)
        if details["type"] == "invalid_key":
            original = original[:-1]  # the key is not a string, so it has no path of its own
        return ManifestProblem(render_path(original), message, hint)

    def _describe(
        self, details: ErrorDetails, location: Location, original: Location
    ) -> tuple[str, str | None]:
        kind = details["type"]
        value = details["input"]
        context = details.get("ctx") or {}
        if kind == "invalid_key":
            return f"keys must be strings, got {describe_value(location[-1])}", None
        if kind == "missing":
            return f"missing required key {_key_text(location[-1])}", None
        if kind == "extra_forbidden":
            return f"unknown key {_key_text(location[-1])}", self._unknown_key_hint(
                location, original
            )
        if kind == RULE_ERROR_TYPE:
            return details["msg"], context.get(HINT_CONTEXT_KEY)
        if kind in _EXPECTED_KIND:
            return f"expected {_EXPECTED_KIND[kind]}, got {describe_value(value)}", None
        if kind == "literal_error":
            return _literal_problem(location, value, context)
        if kind == "string_pattern_mismatch" and context.get("pattern") == SLUG_PATTERN:
            return f"invalid slug {describe_value(value)}", (
                f"{_SLUG_RULE}; e.g. {json.dumps(suggest_slug(value))}"
                if isinstance(value, str)
                else None
            )
        if kind == "string_too_short":
            if context.get("min_length") == 1:
                return "must not be empty", None
            return f"must be at least {context.get('min_length')} characters", None
        if kind in ("too_short", "too_long"):
            return _length_problem(kind, context), None
        if kind in _COMPARISONS:
            key, words = _COMPARISONS[kind]
            return f"must be {words} {context.get(key)}, got {describe_value(value)}", None
        if kind == "value_error":
            return details["msg"].removeprefix("Value error, "), None
        return details["msg"], None

    def _unknown_key_hint(self, location: Location, original: Location) -> str | None:
        key = location[-1]
        if not self.migration.was_migrated and len(location) == 1 and key in LEGACY_KEYS:
            return f"'{key}' is a schema 1.0 key; in schema 2.0 move it to '{LEGACY_KEYS[key]}'"
        allowed = self.migration.legacy_keys.get(original[:-1])
        if allowed is None:
            allowed = _allowed_keys(location[:-1])
        if not allowed:
            return None
        return _did_you_mean(str(key), sorted(allowed))


def _key_text(key: str | int) -> str:
    return repr(key) if isinstance(key, str) else str(key)


def _did_you_mean(key: str, allowed: list[str]) -> str:
    by_lowercase = {candidate.lower(): candidate for candidate in allowed}
    matches = difflib.get_close_matches(key.lower(), list(by_lowercase), n=1, cutoff=0.6)
    if matches:
        return f"did you mean {by_lowercase[matches[0]]!r}?"
    return "allowed keys: " + ", ".join(repr(candidate) for candidate in allowed)


def _literal_problem(
    location: Location, value: Any, context: dict[str, Any]
) -> tuple[str, str | None]:
    choices = _literal_choices(_annotation_at(location))
    if not choices:
        return f"expected {context.get('expected')}, got {describe_value(value)}", None
    rendered = ", ".join(json.dumps(choice) for choice in choices)
    expected = rendered if len(choices) == 1 else f"one of {rendered}"
    message = f"expected {expected}, got {describe_value(value)}"
    if location == ("schema_version",):
        return message, 'write "schema_version": "2.0" (a string); 1.0 manifests omit it'
    if isinstance(value, str):
        by_lowercase = {str(choice).lower(): choice for choice in choices}
        matches = difflib.get_close_matches(value.lower(), list(by_lowercase), n=1, cutoff=0.6)
        if matches:
            return message, f"did you mean {json.dumps(by_lowercase[matches[0]])}?"
    return message, None


def _length_problem(kind: str, context: dict[str, Any]) -> str:
    minimum, maximum = context.get("min_length"), context.get("max_length")
    actual = context.get("actual_length")
    if minimum is not None and minimum == maximum:
        return f"expected exactly {minimum} items, got {actual}"
    if kind == "too_short":
        return f"expected at least {minimum} items, got {actual}"
    return f"expected at most {maximum} items, got {actual}"


def _strip(annotation: Any) -> Any:
    """Remove ``Annotated`` metadata and ``| None`` around an annotation."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [member for member in get_args(annotation) if member is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _annotation_at(location: Location) -> Any:
    """The annotation found by walking the model tree from :class:`AppManifest` along
    ``location`` (model fields, dict values, list items), or ``None`` if the walk fails."""
    annotation: Any = AppManifest
    for part in location:
        annotation = _strip(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = _fields_by_key(annotation).get(str(part))
            if field is None:
                return None
            annotation = field
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        else:
            return None
    return annotation


def _fields_by_key(model: type[BaseModel]) -> dict[str, Any]:
    return {(field.alias or name): field.annotation for name, field in model.model_fields.items()}


def _allowed_keys(location: Location) -> frozenset[str] | None:
    annotation = _strip(_annotation_at(location))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return frozenset(_fields_by_key(annotation))
    return None


def _literal_choices(annotation: Any) -> tuple[Any, ...]:
    annotation = _strip(annotation)
    return get_args(annotation) if get_origin(annotation) is Literal else ()
