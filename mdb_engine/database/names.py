"""Pure naming rules of the sandbox: app slugs, logical collection names, physical names.

App ``S`` and logical collection ``N`` live in the physical collection ``S_N``. Because names
join with ``_``, two slugs collide when one of them plus ``_`` is a prefix of the other
(``a`` and ``a_b``: ``a_b_tasks`` could be app ``a``'s collection ``b_tasks``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from mdb_engine.errors import ScopeViolation

__all__ = [
    "ENGINE_COLLECTION_PREFIX",
    "MAX_COLLECTION_NAME_LENGTH",
    "SLUG_PATTERN",
    "collection_name_problem",
    "find_slug_collision",
    "is_valid_slug",
    "logical_name",
    "physical_name",
    "scope_collection_filter",
    "slugs_collide",
    "validate_collection_name",
]

SLUG_PATTERN = r"^[a-z][a-z0-9_-]{1,62}$"
ENGINE_COLLECTION_PREFIX = "_mdb_engine"

_SLUG_RE = re.compile(SLUG_PATTERN)
# ASCII only, so that look-alike characters cannot name a second, confusable collection.
_COLLECTION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# MongoDB limits a namespace (db + "." + collection) to 255 bytes; leave room for db and slug.
MAX_COLLECTION_NAME_LENGTH = 120


def is_valid_slug(slug: object) -> bool:
    """Whether ``slug`` is a well-formed app slug."""
    return isinstance(slug, str) and _SLUG_RE.fullmatch(slug) is not None


def slugs_collide(first: str, second: str) -> bool:
    """Whether two different slugs would share physical collection names."""
    if first == second:
        return False
    return first.startswith(second + "_") or second.startswith(first + "_")


def find_slug_collision(slug: str, existing: Iterable[str]) -> str | None:
    """The first slug in ``existing`` that collides with ``slug``, or ``None``."""
    for other in sorted(existing):
        if slugs_collide(slug, other):
            return other
    return None


def validate_collection_name(name: object) -> str:
    """Return ``name`` if it is a valid logical collection name; raise ScopeViolation if not."""
    if not isinstance(name, str):
        raise ScopeViolation(f"collection name must be a string, got {type(name).__name__}")
    problem = collection_name_problem(name)
    if problem:
        raise ScopeViolation(f"invalid collection name {name!r}: {problem}")
    return name


def collection_name_problem(name: str) -> str | None:
    """What is wrong with a logical collection name, or ``None`` when it is valid."""
    if not name:
        return "must not be empty"
    if "$" in name:
        return "must not contain '$'"
    if "\x00" in name:
        return "must not contain a NUL character"
    if name.startswith("system."):
        return "must not start with 'system.' (reserved by MongoDB)"
    if name.startswith(ENGINE_COLLECTION_PREFIX):
        return f"must not start with {ENGINE_COLLECTION_PREFIX!r} (reserved for the engine)"
    if name.startswith("_"):
        return "must not start with '_'"
    if len(name) > MAX_COLLECTION_NAME_LENGTH:
        return f"must not be longer than {MAX_COLLECTION_NAME_LENGTH} characters"
    if not _COLLECTION_RE.fullmatch(name):
        return (
            "must use only ASCII letters, digits, '_', '-' and '.', starting with a letter or digit"
        )
    if ".." in name or name.endswith("."):
        return "must not contain empty segments ('..' or a trailing '.')"
    return None


def physical_name(slug: str, name: str) -> str:
    """The physical collection name of logical collection ``name`` of app ``slug``."""
    return f"{slug}_{validate_collection_name(name)}"


def logical_name(slug: str, physical: str) -> str:
    """The logical name of app ``slug``'s physical collection ``physical`` (``slug_name``)."""
    prefix = f"{slug}_"
    if not physical.startswith(prefix):
        raise ValueError(f"{physical!r} is not a collection of app {slug!r}")
    return physical[len(prefix) :]


def scope_collection_filter(filter: Mapping[str, Any] | None, slug: str) -> dict[str, Any]:
    """A ``listCollections`` filter that matches only app ``slug``'s collections.

    Conditions on ``name`` take logical names (a string, or ``$eq``/``$ne``/``$in``/``$nin``);
    they are mapped to physical names. Other fields (``type``, ``options.*``) pass unchanged.
    """
    own = {"name": {"$regex": "^" + re.escape(slug + "_")}}
    if not filter:
        return own
    translated: dict[str, Any] = {}
    for key, value in filter.items():
        if not isinstance(key, str) or key.startswith("$"):
            raise ScopeViolation(
                f"a scoped collection filter takes field conditions only, not {key!r}"
            )
        translated[key] = _physical_name_condition(value, slug) if key == "name" else value
    return {"$and": [own, translated]}


def _physical_name_condition(condition: Any, slug: str) -> Any:
    if isinstance(condition, str):
        return physical_name(slug, condition)
    if isinstance(condition, Mapping) and condition.keys() <= {"$eq", "$ne", "$in", "$nin"}:
        mapped: dict[str, Any] = {}
        for operator, value in condition.items():
            if operator in ("$eq", "$ne"):
                mapped[operator] = physical_name(slug, value)
            elif isinstance(value, (list, tuple)):
                mapped[operator] = [physical_name(slug, name) for name in value]
            else:
                raise ScopeViolation(f"{operator} on 'name' takes a list of collection names")
        return mapped
    raise ScopeViolation("a filter on 'name' takes a collection name or $eq/$ne/$in/$nin of names")
