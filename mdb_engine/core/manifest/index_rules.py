"""The rules MongoDB applies to an index declaration, checked when the manifest is validated.

Each rule mirrors a refusal of the server (checked against mongod 6.0.5), so a bad declaration
fails with its manifest path instead of failing later at ``createIndexes``. The functions are
pure: they return violations located relative to the index spec, or, for
:func:`declaration_conflicts`, relative to one collection's list of declarations.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mdb_engine.core.manifest.fields import Violation

if TYPE_CHECKING:  # models_indexes imports this module at run time
    from mdb_engine.core.manifest.models_indexes import IndexSpec

__all__ = [
    "MAX_TTL_SECONDS",
    "SEARCH_INDEX_TYPES",
    "TEXT_LANGUAGES",
    "declaration_conflicts",
    "is_wildcard_field",
    "key_violations",
    "option_violations",
]

MAX_TTL_SECONDS = 2**31 - 1
SEARCH_INDEX_TYPES = ("vectorSearch", "search")
# MongoDB's text search languages (names are matched without regard to case).
_TEXT_LANGUAGE_NAMES: tuple[str, ...] = (
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "hungarian",
    "italian",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "turkish",
    "none",
)
_TEXT_LANGUAGE_CODES: tuple[str, ...] = (
    "da",
    "nl",
    "en",
    "fi",
    "fr",
    "de",
    "hu",
    "it",
    "nb",
    "pt",
    "ro",
    "ru",
    "es",
    "sv",
    "tr",
)
TEXT_LANGUAGES = frozenset(_TEXT_LANGUAGE_NAMES + _TEXT_LANGUAGE_CODES)
_WILDCARD = "$**"
_PLUGINS = ("text", "2dsphere", "2d", "hashed")
_MAX_TEXT_WEIGHT = 100_000
# Options that do not make two indexes on the same keys different: the server refuses the
# second one as "an equivalent index already exists".
_OPTIONS_THAT_DO_NOT_DISTINGUISH = frozenset({"type", "name", "hidden", "expireAfterSeconds"})


def is_wildcard_field(field: str) -> bool:
    """``$**`` or a path ending in ``.$**``: the key of a wildcard index (or a wildcard text
    index when its direction is ``"text"``)."""
    return field == _WILDCARD or field.endswith("." + _WILDCARD)


def _render(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- keys -----------------------------------------------------------------------------------


def key_violations(keys: Mapping[str, int | str], index_type: str) -> list[Violation]:
    """Field names, the order of special keys, and the kinds of keys one index may combine."""
    violations: list[Violation] = []
    for field, direction in keys.items():
        problem = _field_problem(field, direction)
        if problem is not None:
            message, hint = problem
            violations.append((("keys", field), message, hint, field))
    violations.extend(_id_only_violations(keys))
    violations.extend(_text_order_violations(keys))
    violations.extend(_2d_violations(keys))
    violations.extend(_plugin_violations(keys, index_type))
    violations.extend(_wildcard_key_violations(keys, index_type))
    return violations


def _field_problem(field: str, direction: int | str) -> tuple[str, str] | None:
    """(message, hint) if the server refuses ``field`` as an index key with ``direction``."""
    if not field:
        return "a key's field name must not be empty", 'e.g. "created_at"'
    parts = field.split(".")
    if "" in parts:
        fixed = ".".join(part for part in parts if part) or "created_at"
        return (
            f"field {field!r} has an empty part (a leading, trailing or double '.')",
            f"e.g. {_render(fixed)}",
        )
    for position, part in enumerate(parts):
        if part == _WILDCARD and position < len(parts) - 1:
            fixed = ".".join(parts[: position + 1])
            return f"field {field!r}: '$**' can only be its last part", f"e.g. {_render(fixed)}"
        if part.startswith("$") and part != _WILDCARD:
            return (
                f"field {field!r} has a part starting with '$'",
                "a part of an indexed field cannot start with '$'; only a wildcard '$**' can",
            )
    allowed: tuple[int | str, ...] = (1, "text") if field == _WILDCARD else (1,)
    if is_wildcard_field(field) and direction not in allowed:
        return (
            f"a wildcard key can only be {' or '.join(map(_render, allowed))}, "
            f"got {_render(direction)}",
            f"e.g. {{{_render(field)}: 1}}",
        )
    return None


def _id_only_violations(keys: Mapping[str, int | str]) -> list[Violation]:
    if list(keys) != ["_id"] or keys["_id"] not in (1, -1):
        return []
    return [
        (
            ("keys",),
            "the index on '_id' alone always exists: MongoDB creates it with the collection",
            "remove this declaration, or add fields after '_id' for a compound index",
            dict(keys),
        )
    ]


def _text_order_violations(keys: Mapping[str, int | str]) -> list[Violation]:
    positions = [position for position, value in enumerate(keys.values()) if value == "text"]
    if not positions or positions[-1] - positions[0] == len(positions) - 1:
        return []
    text_fields = [field for field, value in keys.items() if value == "text"]
    return [
        (
            ("keys",),
            '"text" keys must be next to each other in the key order',
            "list " + ", ".join(map(repr, text_fields)) + " one after another",
            dict(keys),
        )
    ]


def _2d_violations(keys: Mapping[str, int | str]) -> list[Violation]:
    fields = list(keys)
    violations: list[Violation] = []
    for field in fields[1:]:
        if keys[field] != "2d":
            continue
        if keys[fields[0]] == "2d":
            message = 'an index can have only one "2d" key'
            hint = f"index {field!r} in another index"
        else:
            message, hint = 'a "2d" key must be the first key', f"move {field!r} to the front"
        violations.append((("keys", field), message, hint, "2d"))
    return violations


def _plugin_violations(keys: Mapping[str, int | str], index_type: str) -> list[Violation]:
    directions = list(keys.values())
    kinds = list(dict.fromkeys(kind for kind in directions if kind in _PLUGINS))
    violations: list[Violation] = []
    if len(kinds) > 1:
        violations.append(
            (
                ("keys",),
                f"an index can use only one kind of {', '.join(map(_render, _PLUGINS))} keys, "
                f"got {' and '.join(map(_render, kinds))}",
                "declare one index per kind",
                dict(keys),
            )
        )
    hashed = directions.count("hashed")
    if hashed > 1 and index_type != "hashed":  # a 'hashed' index has its own rule, and message
        violations.append(
            (
                ("keys",),
                f'an index can have only one "hashed" key, got {hashed}',
                'keep one "hashed" key; the others can be 1 or -1',
                dict(keys),
            )
        )
    return violations


def _wildcard_key_violations(keys: Mapping[str, int | str], index_type: str) -> list[Violation]:
    wildcard_fields = [field for field in keys if _is_wildcard_key(field, keys[field])]
    if len(wildcard_fields) > 1:
        return [
            (
                ("keys",),
                f"an index can have only one wildcard key, got {len(wildcard_fields)}",
                "declare one index per wildcard key",
                dict(keys),
            )
        ]
    if index_type == "wildcard" and not wildcard_fields:
        return [
            (
                ("keys",),
                "a 'wildcard' index needs a wildcard key ('$**' or a path ending in '.$**')",
                'e.g. {"$**": 1} or {"attributes.$**": 1}',
                dict(keys),
            )
        ]
    return []


def _is_wildcard_key(field: str, direction: int | str) -> bool:
    return is_wildcard_field(field) and direction in (1, -1)


# -- options --------------------------------------------------------------------------------


def option_violations(spec: IndexSpec) -> list[Violation]:
    """Options that the declared keys do not allow, or that the server refuses in any index."""
    keys = spec.keys or {}
    violations = _text_option_violations(spec, keys)
    violations.extend(_wildcard_option_violations(spec, keys))
    if "2d" in keys.values() and spec.collation is not None:
        violations.append(
            (
                ("collation",),
                "a 2d index cannot have a 'collation'",
                "remove 'collation'",
                spec.collation,
            )
        )
    if spec.sparse and spec.partialFilterExpression is not None:
        violations.append(
            (
                ("sparse",),
                "'sparse' and 'partialFilterExpression' cannot be used together",
                'remove \'sparse\'; {"field": {"$exists": true}} in the filter does the same',
                spec.sparse,
            )
        )
    if spec.expireAfterSeconds is not None and list(keys) == ["_id"] and keys["_id"] in (1, -1):
        violations.append(
            (
                ("expireAfterSeconds",),
                "a TTL index cannot be on '_id'",
                'index a date field, e.g. {"expires_at": 1}',
                spec.expireAfterSeconds,
            )
        )
    if spec.collation is not None:
        violations.extend(_collation_violations(spec.collation))
    if spec.name in ("*", "_id_"):
        reason = (
            "is not a valid index name" if spec.name == "*" else "is reserved for the _id index"
        )
        violations.append(
            (
                ("name",),
                f"{spec.name!r} {reason}",
                "choose another name, or leave 'name' out to let MongoDB name the index",
                spec.name,
            )
        )
    return violations


def _text_option_violations(spec: IndexSpec, keys: Mapping[str, int | str]) -> list[Violation]:
    text_options = (
        ("weights", spec.weights),
        ("default_language", spec.default_language),
        ("language_override", spec.language_override),
    )
    if "text" not in keys.values():
        return [
            (
                (option,),
                f"{option!r} is only used by text indexes",
                'remove it, or add a "text" key, e.g. {"title": "text"}',
                value,
            )
            for option, value in text_options
            if value is not None
        ]
    violations: list[Violation] = []
    if spec.collation is not None:
        violations.append(
            (
                ("collation",),
                "a text index cannot have a 'collation'",
                "remove 'collation'; text search compares by 'default_language'",
                spec.collation,
            )
        )
    violations.extend(
        (
            ("weights", field),
            f"a text weight must be greater than 0 and less than {_MAX_TEXT_WEIGHT}, got {weight}",
            "weights are relative: 1 is the default, e.g. 10 for a field that counts more",
            weight,
        )
        for field, weight in (spec.weights or {}).items()
        if not 0 < weight < _MAX_TEXT_WEIGHT
    )
    language = spec.default_language
    if language is not None and language.lower() not in TEXT_LANGUAGES:
        close = difflib.get_close_matches(language.lower(), _TEXT_LANGUAGE_NAMES, n=1)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else "use one of " + ", ".join(_TEXT_LANGUAGE_NAMES) + ", or a two-letter code"
        )
        violations.append(
            (("default_language",), f"unknown text search language {language!r}", hint, language)
        )
    return violations


def _wildcard_option_violations(spec: IndexSpec, keys: Mapping[str, int | str]) -> list[Violation]:
    violations: list[Violation] = []
    if any(_is_wildcard_key(field, direction) for field, direction in keys.items()):
        refused = (
            ("unique", spec.unique, "a wildcard index cannot be unique", "remove 'unique'"),
            (
                "sparse",
                spec.sparse,
                "a wildcard index cannot be sparse",
                "remove 'sparse': a wildcard index skips documents without the fields anyway",
            ),
            (
                "expireAfterSeconds",
                spec.expireAfterSeconds is not None,
                "a wildcard index cannot expire documents (TTL)",
                "expire documents with a single-field 'ttl' index on a date field",
            ),
        )
        violations.extend(
            ((option,), message, hint, getattr(spec, option))
            for option, is_set, message, hint in refused
            if is_set
        )
    if spec.wildcardProjection is not None and list(keys.items()) not in (
        [(_WILDCARD, 1)],
        [(_WILDCARD, -1)],
    ):
        violations.append(
            (
                ("wildcardProjection",),
                "'wildcardProjection' needs the keys {\"$**\": 1} and no other key",
                "use the keys {\"$**\": 1} and list the fields in 'wildcardProjection', "
                "or remove it",
                spec.wildcardProjection,
            )
        )
    return violations


def _collation_violations(collation: Mapping[str, Any]) -> list[Violation]:
    hint = 'e.g. {"locale": "en", "strength": 2}'
    if "locale" not in collation:
        return [(("collation", "locale"), "missing required key 'locale'", hint, None)]
    if not isinstance(collation["locale"], str):
        return [(("collation", "locale"), "'locale' must be a string", hint, collation["locale"])]
    return []


# -- several declarations in one collection --------------------------------------------------


def declaration_conflicts(collection: str, specs: Sequence[IndexSpec]) -> list[Violation]:
    """Declarations the server would refuse side by side in ``collection``: a name used twice,
    the same index under two names, a second text index. Locations are relative to the list."""
    violations: list[Violation] = []
    first_by_name: dict[tuple[bool, str], int] = {}
    first_by_shape: dict[str, int] = {}
    first_text: int | None = None
    for position, spec in enumerate(specs):
        is_search = spec.type in SEARCH_INDEX_TYPES
        # Atlas Search indexes have their own namespace of names.
        first = first_by_name.setdefault((is_search, spec.resolved_name), position)
        if first != position:
            violations.append(_name_conflict(spec, position, f"{collection}[{first}]"))
            continue
        if is_search or spec.keys is None:
            continue
        if "text" in spec.keys.values():
            if first_text is None:
                first_text = position
            else:
                violations.append(
                    (
                        (position, "keys"),
                        f"a collection can have only one text index; "
                        f"{collection}[{first_text}] is one already",
                        'put all the text fields in one index, e.g. {"title": "text", '
                        '"body": "text"}',
                        dict(spec.keys),
                    )
                )
            continue
        first = first_by_shape.setdefault(_shape(spec), position)
        if first != position:
            violations.append(
                (
                    (position, "keys"),
                    f"the same index as {collection}[{first}] under another name",
                    "remove one of them: MongoDB refuses a second name for an index with the "
                    "same keys and options ('hidden' and 'expireAfterSeconds' aside)",
                    dict(spec.keys),
                )
            )
    return violations


def _name_conflict(spec: IndexSpec, position: int, first: str) -> Violation:
    if spec.name is not None:
        hint = "give each index its own 'name'"
    elif spec.type in SEARCH_INDEX_TYPES:
        hint = "a Search index without 'name' is named 'default'; set 'name'"
    else:
        hint = "this name is generated from the keys; set 'name' to tell the indexes apart"
    return (
        (position, "name"),
        f"index name {spec.resolved_name!r} is already used by {first}",
        hint,
        spec.name,
    )


def _shape(spec: IndexSpec) -> str:
    """What makes a regular index distinct on the server: its keys and significant options."""
    document = spec.model_dump(exclude_none=True, exclude=set(_OPTIONS_THAT_DO_NOT_DISTINGUISH))
    for option in ("unique", "sparse"):
        if document.get(option) is False:
            del document[option]  # false is the default, as on the server
    document["keys"] = list(document["keys"].items())
    return json.dumps(document, sort_keys=True, default=str)
