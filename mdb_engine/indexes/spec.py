"""Declared and existing indexes in one comparable form: the way ``listIndexes`` shows them.

A declaration is normalized to what the server would store (text keys become ``_fts``/``_ftsx``
with weights, text defaults are filled in, ``false`` flags are dropped, the collection's default
collation is inherited); an existing index is read the same way, so that comparing the two is a
plain field-by-field check. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pymongo import IndexModel

if TYPE_CHECKING:  # indexes/ does not depend on core/ at run time (ARCHITECTURE §1)
    from mdb_engine.core.manifest import IndexSpec

__all__ = [
    "MODIFIABLE_OPTIONS",
    "DeclaredIndex",
    "IndexDefinition",
    "declare_index",
    "differences",
    "existing_definition",
    "is_builtin_index",
    "normalize_collation",
    "same_collation",
    "same_filter",
    "same_value",
]

KeyPattern = tuple[tuple[str, int | str], ...]

# Fields the server adds for its own bookkeeping; they say nothing about what was declared.
_SERVER_BOOKKEEPING = frozenset(
    {"v", "ns", "background", "dropDups", "textIndexVersion", "2dsphereIndexVersion"}
)
_FLAGS = ("unique", "sparse", "hidden")
_TEXT_DEFAULTS = {"default_language": "english", "language_override": "language"}
# Index types that take no collation: on a collection with a default collation they must be
# created with the "simple" one, or the server refuses them.
_NO_COLLATION_DIRECTIONS = frozenset({"text", "2d"})
# Collation fields whose default is the same for every locale (checked on mongod 6.0 over all
# its locales); caseFirst, alternate, normalization and backwards vary with the locale, so an
# undeclared one is not compared. ``version`` is the ICU version, not a choice.
_COLLATION_DEFAULTS: Mapping[str, Any] = {
    "caseLevel": False,
    "strength": 3,
    "numericOrdering": False,
    "maxVariable": "punct",
}
_COLLATION_IGNORED = frozenset({"version"})
# What ``collMod`` can change in place on an existing index.
MODIFIABLE_OPTIONS = frozenset({"expireAfterSeconds", "hidden"})
_LOGICAL_OPERATORS = frozenset({"$and", "$or", "$nor"})


@dataclass(frozen=True)
class IndexDefinition:
    """An index as the server shows it: name, ordered key pattern and options."""

    name: str
    key: KeyPattern
    options: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The definition as a ``listIndexes``-like document, for reports and messages."""
        return {"name": self.name, "key": dict(self.key), **self.options}

    @property
    def is_unique(self) -> bool:
        """Whether the index enforces uniqueness."""
        return bool(self.options.get("unique"))


@dataclass(frozen=True)
class DeclaredIndex:
    """A manifest declaration: its normalized definition and the ``createIndexes`` entry."""

    definition: IndexDefinition
    create_document: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The index name (declared, or the one the server would generate)."""
        return self.definition.name

    def model(self) -> IndexModel:
        """The PyMongo ``IndexModel`` that creates this index."""
        options = dict(self.create_document)
        keys = options.pop("key")
        return IndexModel(list(keys.items()), **options)


def declare_index(spec: IndexSpec, default_collation: Mapping[str, Any] | None) -> DeclaredIndex:
    """Normalize a (non-search) declaration on a collection with ``default_collation``."""
    if spec.keys is None:
        raise ValueError(f"a {spec.type!r} index has no key pattern")
    keys: dict[str, int | str] = dict(spec.keys)
    name = spec.resolved_name
    takes_collation = not _NO_COLLATION_DIRECTIONS & {str(value) for value in keys.values()}
    create: dict[str, Any] = {"key": keys, "name": name}
    options: dict[str, Any] = {}
    for flag in _FLAGS:
        if getattr(spec, flag):
            create[flag] = options[flag] = True
    for option in ("expireAfterSeconds", "partialFilterExpression", "wildcardProjection"):
        value = getattr(spec, option)
        if value is not None:
            create[option] = options[option] = value
    text_fields = [field_name for field_name, value in keys.items() if value == "text"]
    if text_fields:
        for option in ("weights", "default_language", "language_override"):
            value = getattr(spec, option)
            if value is not None:
                create[option] = value
        options["weights"] = {**dict.fromkeys(text_fields, 1), **(spec.weights or {})}
        options["default_language"] = spec.default_language or _TEXT_DEFAULTS["default_language"]
        options["language_override"] = spec.language_override or _TEXT_DEFAULTS["language_override"]
    collation = normalize_collation(spec.collation)
    if collation is not None:
        create["collation"] = dict(spec.collation or {})
        options["collation"] = collation
    elif takes_collation:
        if normalize_collation(default_collation) is not None:
            options["collation"] = dict(default_collation or {})
    elif normalize_collation(default_collation) is not None:
        create["collation"] = {"locale": "simple"}
    definition = IndexDefinition(name, _server_key(keys), options)
    return DeclaredIndex(definition, create)


def _server_key(keys: Mapping[str, int | str]) -> KeyPattern:
    """The key pattern as stored: adjacent text keys become ``_fts: "text", _ftsx: 1``."""
    pattern: list[tuple[str, int | str]] = []
    for field_name, direction in keys.items():
        if direction != "text":
            pattern.append((field_name, direction))
        elif ("_fts", "text") not in pattern:
            pattern.extend([("_fts", "text"), ("_ftsx", 1)])
    return tuple(pattern)


def existing_definition(document: Mapping[str, Any]) -> IndexDefinition:
    """Read one ``listIndexes`` document."""
    key = tuple(
        (str(field_name), _direction(direction))
        for field_name, direction in dict(document["key"]).items()
    )
    options: dict[str, Any] = {}
    for option, value in document.items():
        if option in ("name", "key") or option in _SERVER_BOOKKEEPING:
            continue
        if option in _FLAGS:
            if value:
                options[option] = True
            continue
        options[option] = value
    return IndexDefinition(str(document["name"]), key, options)


def _direction(value: Any) -> Any:
    # The shell writes 1 as a double; the server keeps what it was given.
    if _is_number(value) and value == int(value):
        return int(value)
    return value


def is_builtin_index(document: Mapping[str, Any]) -> bool:
    """The ``_id`` index (or a clustered collection's key): always there, never managed."""
    return document.get("name") == "_id_" or bool(document.get("clustered"))


def differences(declared: IndexDefinition, existing: IndexDefinition) -> tuple[str, ...]:
    """The names of what differs (``key`` and option names), in a stable order."""
    found: list[str] = []
    if not _same_key(declared.key, existing.key):
        found.append("key")
    for option in sorted(set(declared.options) | set(existing.options)):
        if not _same_option(option, declared.options.get(option), existing.options.get(option)):
            found.append(option)
    return tuple(found)


def _same_key(declared: KeyPattern, existing: KeyPattern) -> bool:
    return len(declared) == len(existing) and all(
        name == other_name and same_value(direction, other_direction)
        for (name, direction), (other_name, other_direction) in zip(declared, existing, strict=True)
    )


def _same_option(option: str, declared: Any, existing: Any) -> bool:
    if option == "collation":
        return same_collation(declared, existing)
    if declared is None or existing is None:
        return declared is None and existing is None
    if option == "partialFilterExpression":
        return same_filter(declared, existing)
    if option == "wildcardProjection":
        return _same_projection(declared, existing)
    return same_value(declared, existing)


def same_value(first: Any, second: Any, *, ordered: bool = False) -> bool:
    """BSON-aware equality: numbers by value (1 == 1.0 == Int64(1)), booleans apart from
    numbers, documents key by key (in order too when ``ordered``), arrays element-wise."""
    if isinstance(first, bool) or isinstance(second, bool):
        return type(first) is type(second) and first == second
    if _is_number(first) and _is_number(second):
        return bool(first == second)
    if isinstance(first, Mapping) and isinstance(second, Mapping):
        if ordered and list(first) != list(second):
            return False
        return set(first) == set(second) and all(
            same_value(first[key], second[key], ordered=ordered) for key in first
        )
    if _is_array(first) and _is_array(second):
        return len(first) == len(second) and all(
            same_value(item, other, ordered=ordered)
            for item, other in zip(first, second, strict=True)
        )
    return type(first) is type(second) and bool(first == second)


def same_filter(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Whether two query documents are the same, ignoring the order of their fields and
    operators but not the order inside a literal embedded document (which matters to MongoDB)."""
    if not (isinstance(first, Mapping) and isinstance(second, Mapping)):
        return False
    if set(first) != set(second):
        return False
    for key, value in first.items():
        other = second[key]
        if key in _LOGICAL_OPERATORS:
            if not (_is_array(value) and _is_array(other) and len(value) == len(other)):
                return False
            if not all(
                same_filter(item, item_other) for item, item_other in zip(value, other, strict=True)
            ):
                return False
        elif not _same_condition(value, other):
            return False
    return True


def _same_condition(first: Any, second: Any) -> bool:
    if _is_operator_document(first) or _is_operator_document(second):
        return (
            isinstance(first, Mapping)
            and isinstance(second, Mapping)
            and set(first) == set(second)
            and all(same_value(first[key], second[key], ordered=True) for key in first)
        )
    return same_value(first, second, ordered=True)


def _is_operator_document(value: Any) -> bool:
    return isinstance(value, Mapping) and any(str(key).startswith("$") for key in value)


def _same_projection(first: Any, second: Any) -> bool:
    if not (isinstance(first, Mapping) and isinstance(second, Mapping)):
        return same_value(first, second)
    return set(first) == set(second) and all(
        _inclusion(first[key]) == _inclusion(second[key]) for key in first
    )


def _inclusion(value: Any) -> Any:
    return bool(value) if isinstance(value, (bool, int, float)) else value


def normalize_collation(collation: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``None`` for no collation or the ``simple`` one (the server stores neither)."""
    if not collation or collation.get("locale") == "simple":
        return None
    return dict(collation)


def same_collation(declared: Mapping[str, Any] | None, existing: Mapping[str, Any] | None) -> bool:
    """Whether an existing index's collation is the declared one.

    The server stores every collation field; a declared field must match, an undeclared one
    must hold its default where that default is the same for every locale.
    """
    wanted, actual = normalize_collation(declared), normalize_collation(existing)
    if wanted is None or actual is None:
        return wanted is None and actual is None
    for key in (set(wanted) | set(actual)) - _COLLATION_IGNORED:
        if key in wanted:
            expected = wanted[key]
        elif key in _COLLATION_DEFAULTS:
            expected = _COLLATION_DEFAULTS[key]
        else:
            continue
        if not same_value(expected, actual.get(key, _COLLATION_DEFAULTS.get(key))):
            return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_array(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))
