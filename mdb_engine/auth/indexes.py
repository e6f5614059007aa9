"""Indexes the auth features need in an app's collections, kept by the index sync."""

from __future__ import annotations

from mdb_engine.core.manifest import AppManifest
from mdb_engine.core.manifest.models_indexes import IndexSpec

__all__ = ["USERS_EMAIL_INDEX", "auth_indexes"]

USERS_EMAIL_INDEX = "email_unique"


def auth_indexes(manifest: AppManifest) -> dict[str, list[IndexSpec]]:
    """A unique index on the app users' ``email``, unless the manifest declares one itself."""
    users = manifest.auth.users if manifest.auth else None
    if users is None or not users.enabled or users.strategy != "app_users":
        return {}
    declared = manifest.managed_indexes.get(users.collection, [])
    if any(spec.keys is not None and list(spec.keys) == ["email"] for spec in declared):
        return {}
    spec = IndexSpec(type="regular", keys={"email": 1}, unique=True, name=USERS_EMAIL_INDEX)
    return {users.collection: [spec]}
