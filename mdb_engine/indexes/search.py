"""Atlas Search and Vector Search index declarations, and how they compare with the server's.

Pure functions: the definition the engine sends (a vector index gains an ``app_id`` filter
field, so that the sandbox's scoped ``$vectorSearch`` can filter on it) and whether an index
the server lists already holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mdb_engine.database.scope import APP_ID_FIELD
from mdb_engine.indexes.spec import same_value

if TYPE_CHECKING:  # indexes/ does not depend on core/ at run time (ARCHITECTURE §1)
    from mdb_engine.core.manifest import IndexSpec

__all__ = [
    "SEARCH_UNSUPPORTED_CODES",
    "DeclaredSearchIndex",
    "declare_search_index",
    "definition_holds",
]

# What a server without Atlas Search answers: mongod 6.0 does not know $listSearchIndexes
# (40324) or createSearchIndexes (59); later community servers answer "not enabled" (31082)
# or "not supported" (115, 6047401).
SEARCH_UNSUPPORTED_CODES = frozenset({40324, 59, 115, 31082, 6047401})


@dataclass(frozen=True)
class DeclaredSearchIndex:
    """A declared Atlas index: name, type (``search`` or ``vectorSearch``) and definition."""

    name: str
    type: str
    definition: Mapping[str, Any]

    def describe(self) -> dict[str, Any]:
        """The declaration as a document, for reports and messages."""
        return {"name": self.name, "type": self.type, "definition": dict(self.definition)}


def declare_search_index(spec: IndexSpec) -> DeclaredSearchIndex:
    """The search index the engine keeps for a declaration."""
    if not spec.is_search or spec.definition is None:
        raise ValueError(f"a {spec.type!r} index is not an Atlas Search index")
    definition = dict(spec.definition)
    if spec.type == "vectorSearch":
        definition = _with_app_id_filter(definition)
    return DeclaredSearchIndex(spec.resolved_name, spec.type, definition)


def _with_app_id_filter(definition: dict[str, Any]) -> dict[str, Any]:
    fields = list(definition.get("fields") or [])
    if not any(isinstance(item, Mapping) and item.get("path") == APP_ID_FIELD for item in fields):
        fields.append({"type": "filter", "path": APP_ID_FIELD})
    return {**definition, "fields": fields}


def definition_holds(declared: Any, actual: Any) -> bool:
    """Whether the server's definition holds everything declared.

    Atlas fills in defaults (analyzers, ``dynamic`` flags…) that were never declared, so a
    field the declaration leaves out is not a difference; a declared one must match, lists
    element by element.
    """
    if isinstance(declared, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and definition_holds(value, actual[key])
            for key, value in declared.items()
        )
    if isinstance(declared, (list, tuple)):
        return (
            isinstance(actual, (list, tuple))
            and len(declared) == len(actual)
            and all(
                definition_holds(item, other) for item, other in zip(declared, actual, strict=True)
            )
        )
    return same_value(declared, actual)
