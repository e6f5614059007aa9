"""The index plan: declared indexes against what the server has, decided per index.

Pure functions: the caller reads ``listIndexes`` (and ``$listSearchIndexes``) and passes the
documents in; nothing here talks to MongoDB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from mdb_engine.indexes.search import DeclaredSearchIndex, definition_holds
from mdb_engine.indexes.spec import (
    MODIFIABLE_OPTIONS,
    DeclaredIndex,
    IndexDefinition,
    differences,
    existing_definition,
    is_builtin_index,
)

__all__ = [
    "IndexAction",
    "IndexChange",
    "IndexPlan",
    "plan_collection",
    "plan_search_indexes",
]


class IndexAction(str, Enum):
    """What syncing does with one index."""

    CREATE = "create"
    UNCHANGED = "unchanged"
    MODIFY = "modify"
    CONFLICT = "conflict"
    EXTRA = "extra"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class IndexChange:
    """One index in the plan: where it is, what happens to it and why."""

    collection: str
    name: str
    action: IndexAction
    kind: str = "index"
    declared: Mapping[str, Any] | None = None
    existing: Mapping[str, Any] | None = None
    differences: tuple[str, ...] = ()
    detail: str = ""
    # What the sync needs to act: the declaration, and the existing index's name when the
    # declared one lives under another name.
    declaration: DeclaredIndex | DeclaredSearchIndex | None = field(
        default=None, repr=False, compare=False
    )
    existing_name: str | None = None

    @property
    def is_search(self) -> bool:
        """Whether this is an Atlas Search or Vector Search index."""
        return self.kind != "index"

    @property
    def is_unique(self) -> bool:
        """Whether the existing (or else the declared) index enforces uniqueness."""
        spec = self.existing if self.existing is not None else self.declared
        return bool(spec and spec.get("unique"))

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON-compatible data."""
        return {
            "collection": self.collection,
            "name": self.name,
            "action": self.action.value,
            "kind": self.kind,
            "declared": self.declared,
            "existing": self.existing,
            "differences": list(self.differences),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class IndexPlan:
    """Every declared and existing index of one app, each with its action."""

    slug: str
    changes: tuple[IndexChange, ...]

    def of(self, action: IndexAction) -> tuple[IndexChange, ...]:
        """The changes with ``action``."""
        return tuple(change for change in self.changes if change.action is action)

    @property
    def create(self) -> tuple[IndexChange, ...]:
        """Declared indexes that do not exist yet."""
        return self.of(IndexAction.CREATE)

    @property
    def unchanged(self) -> tuple[IndexChange, ...]:
        """Declared indexes that exist as declared."""
        return self.of(IndexAction.UNCHANGED)

    @property
    def modify(self) -> tuple[IndexChange, ...]:
        """Indexes changed in place (``collMod``, ``updateSearchIndex``)."""
        return self.of(IndexAction.MODIFY)

    @property
    def conflict(self) -> tuple[IndexChange, ...]:
        """Declared indexes that differ from the existing ones in a way only a rebuild fixes."""
        return self.of(IndexAction.CONFLICT)

    @property
    def extra(self) -> tuple[IndexChange, ...]:
        """Indexes that exist but are not declared."""
        return self.of(IndexAction.EXTRA)

    @property
    def unsupported(self) -> tuple[IndexChange, ...]:
        """Declared search indexes that this server cannot hold."""
        return self.of(IndexAction.UNSUPPORTED)

    @property
    def is_in_sync(self) -> bool:
        """Whether syncing would send nothing (extras and unsupported aside)."""
        return not (self.create or self.modify or self.conflict)

    def counts(self) -> dict[str, int]:
        """How many indexes each action has."""
        return {action.value: len(self.of(action)) for action in IndexAction}

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-compatible data."""
        return {
            "slug": self.slug,
            "counts": self.counts(),
            "changes": [change.to_dict() for change in self.changes],
        }


def plan_collection(
    collection: str,
    declared: Sequence[DeclaredIndex],
    existing: Iterable[Mapping[str, Any]],
) -> list[IndexChange]:
    """Compare one collection's declared indexes with its ``listIndexes`` documents."""
    found = {
        definition.name: definition
        for definition in (
            existing_definition(document) for document in existing if not is_builtin_index(document)
        )
    }
    changes: list[IndexChange] = []
    for declaration in declared:
        wanted = declaration.definition
        current = found.pop(wanted.name, None)
        if current is None:
            twin = _same_index_under_another_name(wanted, found.values())
            if twin is None:
                changes.append(_change(collection, IndexAction.CREATE, declaration, None))
            else:
                found.pop(twin.name)
                changes.append(
                    _change(
                        collection,
                        IndexAction.CONFLICT,
                        declaration,
                        twin,
                        ("name",),
                        f"the same index exists under the name {twin.name!r}",
                    )
                )
            continue
        changed = differences(wanted, current)
        if not changed:
            changes.append(_change(collection, IndexAction.UNCHANGED, declaration, current))
        elif _is_modifiable(changed, wanted):
            changes.append(
                _change(
                    collection,
                    IndexAction.MODIFY,
                    declaration,
                    current,
                    changed,
                    "changed in place with collMod",
                )
            )
        else:
            changes.append(
                _change(
                    collection,
                    IndexAction.CONFLICT,
                    declaration,
                    current,
                    changed,
                    f"differs in {', '.join(changed)}",
                )
            )
    changes.extend(
        IndexChange(
            collection,
            definition.name,
            IndexAction.EXTRA,
            existing=definition.describe(),
            detail="exists but is not declared",
            existing_name=definition.name,
        )
        for definition in found.values()
    )
    return changes


def _same_index_under_another_name(
    wanted: IndexDefinition, candidates: Iterable[IndexDefinition]
) -> IndexDefinition | None:
    # The server refuses to build a second index that differs only by name.
    return next((other for other in candidates if not differences(wanted, other)), None)


def _is_modifiable(changed: tuple[str, ...], wanted: IndexDefinition) -> bool:
    # collMod can set or change a TTL (on a single-field index) and hide or unhide an index;
    # it cannot take a TTL away.
    if not set(changed) <= MODIFIABLE_OPTIONS:
        return False
    return "expireAfterSeconds" not in changed or "expireAfterSeconds" in wanted.options


def _change(
    collection: str,
    action: IndexAction,
    declaration: DeclaredIndex,
    current: IndexDefinition | None,
    changed: tuple[str, ...] = (),
    detail: str = "",
) -> IndexChange:
    return IndexChange(
        collection,
        declaration.name,
        action,
        declared=declaration.definition.describe(),
        existing=current.describe() if current is not None else None,
        differences=changed,
        detail=detail,
        declaration=declaration,
        existing_name=current.name if current is not None else None,
    )


def plan_search_indexes(
    collection: str,
    declared: Sequence[DeclaredSearchIndex],
    existing: Iterable[Mapping[str, Any]] | None,
    unsupported_reason: str = "",
) -> list[IndexChange]:
    """Compare declared Atlas indexes with ``$listSearchIndexes`` (``None``: not supported)."""
    if existing is None:
        return [
            IndexChange(
                collection,
                declaration.name,
                IndexAction.UNSUPPORTED,
                kind=declaration.type,
                declared=declaration.describe(),
                detail=unsupported_reason,
                declaration=declaration,
            )
            for declaration in declared
        ]
    found = {str(document["name"]): document for document in existing}
    changes: list[IndexChange] = []
    for declaration in declared:
        current = found.pop(declaration.name, None)
        shown = _describe_search(current) if current is not None else None
        changed: tuple[str, ...]
        if current is None:
            action, changed, detail = IndexAction.CREATE, (), ""
        elif current.get("type", "search") != declaration.type:
            action, changed, detail = IndexAction.CONFLICT, ("type",), "differs in type"
        elif definition_holds(declaration.definition, _latest_definition(current)):
            action, changed, detail = IndexAction.UNCHANGED, (), ""
        else:
            action, changed = IndexAction.MODIFY, ("definition",)
            detail = "changed in place with updateSearchIndex"
        changes.append(
            IndexChange(
                collection,
                declaration.name,
                action,
                kind=declaration.type,
                declared=declaration.describe(),
                existing=shown,
                differences=changed,
                detail=detail,
                declaration=declaration,
                existing_name=declaration.name if current is not None else None,
            )
        )
    changes.extend(
        IndexChange(
            collection,
            name,
            IndexAction.EXTRA,
            kind=str(document.get("type", "search")),
            existing=_describe_search(document),
            detail="exists but is not declared",
            existing_name=name,
        )
        for name, document in found.items()
    )
    return changes


def _latest_definition(document: Mapping[str, Any]) -> Any:
    return document.get("latestDefinition", document.get("definition"))


def _describe_search(document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": document.get("name"),
        "type": document.get("type", "search"),
        "definition": _latest_definition(document),
        "status": document.get("status"),
    }
