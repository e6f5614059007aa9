"""Who may read whose data: ``data_access`` in both manifests must agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mdb_engine.errors import ScopeViolation

if TYPE_CHECKING:
    from mdb_engine.core.engine import RegisteredApp

__all__ = ["check_read_access"]


def check_read_access(
    reader_app: RegisteredApp | None,
    owner_app: RegisteredApp | None,
    reader: str,
    owner: str,
    collection: str | None,
) -> None:
    """Raise ``ScopeViolation`` unless ``reader`` may read ``owner``'s ``collection``.

    ``collection`` is ``None`` when the question is about the owner's app as a whole.
    """
    if reader == owner:
        raise ScopeViolation(f"app {reader!r} reads its own data through its scoped database")
    if reader_app is None or not reader_app.is_active:
        raise ScopeViolation(f"app {reader!r} is not an active registered app")
    if owner_app is None or not owner_app.is_active:
        raise ScopeViolation(f"app {owner!r} is not an active registered app")
    asked = reader_app.manifest.data_access
    if asked is None or owner not in asked.read_scopes:
        raise ScopeViolation(
            f"app {reader!r} may not read app {owner!r}: add {owner!r} to "
            f"data_access.read_scopes in {reader!r}'s manifest"
        )
    granted = owner_app.manifest.data_access
    if granted is None or reader not in granted.allow_read_by:
        raise ScopeViolation(
            f"app {owner!r} does not allow reads by {reader!r}: its manifest must list "
            f"{reader!r} in data_access.allow_read_by"
        )
    shared = granted.shared_collections
    if collection is not None and shared is not None and collection not in shared:
        raise ScopeViolation(
            f"app {owner!r} does not share collection {collection!r} "
            f"(data_access.shared_collections: {', '.join(shared) or 'none'})"
        )
