"""Schema 1.0 (the MDB_RUNTIME form) -> schema 2.0.

A manifest without ``schema_version`` (or with ``"1.0"``) is read as 1.0. Its flat auth keys move
under ``auth``: ``auth_required`` -> ``auth.policy.required`` (and ``allow_anonymous`` becomes its
opposite unless given), ``auth_policy`` -> ``auth.policy`` (roles and policies under
``authorization``), ``sub_auth`` -> ``auth.users``. Everything else is carried over unchanged.

The migration remembers where every moved value came from, so a problem found later in a moved
value is reported at its original 1.0 path (``$.auth_policy.provder``, not ``$.auth.policy...``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mdb_engine.core.manifest.fields import (
    Location,
    describe_value,
    manifest_keys,
    render_path,
)
from mdb_engine.core.manifest.models import AppManifest
from mdb_engine.core.manifest.models_auth import UsersConfig
from mdb_engine.errors import ManifestError, ManifestProblem

__all__ = ["LEGACY_KEYS", "MigrationResult", "migrate_manifest", "plan_migration"]

logger = logging.getLogger(__name__)

CURRENT_SCHEMA_VERSION = "2.0"
LEGACY_SCHEMA_VERSION = "1.0"

# 1.0 top-level key -> where its content lives in 2.0
LEGACY_KEYS: dict[str, str] = {
    "auth_required": "auth.policy.required",
    "auth_policy": "auth.policy",
    "sub_auth": "auth.users",
}

# key inside a 1.0 ``auth_policy`` -> location relative to ``auth.policy`` in 2.0
_AUTH_POLICY_MOVES: dict[str, Location] = {
    "provider": ("provider",),
    "required": ("required",),
    "allow_anonymous": ("allow_anonymous",),
    "authorization": ("authorization",),
    "allowed_roles": ("authorization", "default_roles"),
    "roles": ("authorization", "default_roles"),
    "default_roles": ("authorization", "default_roles"),
    "model": ("authorization", "model"),
    "policies": ("authorization", "initial_policies"),
    "initial_policies": ("authorization", "initial_policies"),
    "initial_roles": ("authorization", "initial_roles"),
    "policies_collection": ("authorization", "policies_collection"),
    "link_users_roles": ("authorization", "link_users_roles"),
}
_POLICY: Location = ("auth", "policy")
_USERS: Location = ("auth", "users")


@dataclass
class MigrationResult:
    """The 2.0 form of a manifest and what is needed to report problems against the original."""

    data: dict[str, Any]
    was_migrated: bool = False
    changes: list[str] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)
    # location in ``data`` -> location in the original manifest
    origins: dict[Location, Location] = field(default_factory=dict)
    # location in the original manifest -> keys that 1.0 allowed there (for "did you mean")
    legacy_keys: dict[Location, frozenset[str]] = field(default_factory=dict)

    def original_location(self, location: Location) -> Location:
        """Map a location in the migrated data back to the original manifest."""
        for length in range(len(location), 0, -1):
            origin = self.origins.get(location[:length])
            if origin is not None:
                return origin + location[length:]
        return location

    def deprecation_message(self, source: str | None = None) -> str:
        """What the author should change to stop the deprecation warning."""
        slug = self.data.get("slug")
        where = f" {slug!r}" if isinstance(slug, str) else ""
        where += f" ({source})" if source else ""
        return (
            f"manifest{where} uses schema 1.0, which is deprecated; it was migrated in memory. "
            f"To update it: {'; '.join(self.changes)}."
        )


def migrate_manifest(data: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Return ``(data in the 2.0 form, was_migrated)``; ``data`` itself is not changed.

    Raises :class:`ManifestError` if ``data`` is not an object or if a 1.0 value contradicts a 2.0
    value given for the same setting.
    """
    result = plan_migration(data)
    if result.problems:
        raise ManifestError(result.problems)
    return result.data, result.was_migrated


def plan_migration(data: Any) -> MigrationResult:
    """Migrate ``data`` if it is 1.0, recording origins and problems instead of raising."""
    if not isinstance(data, Mapping):
        problem = ManifestProblem(
            "$", f"expected an object, got {describe_value(data)}", "a manifest is a JSON object"
        )
        return MigrationResult(data={}, problems=[problem])
    migrated = _copy_json_like(data, {})
    version = migrated.get("schema_version", LEGACY_SCHEMA_VERSION)
    if version != LEGACY_SCHEMA_VERSION:
        return MigrationResult(data=migrated)
    result = MigrationResult(data=migrated, was_migrated=True)
    result.changes.append(f'set "schema_version": "{CURRENT_SCHEMA_VERSION}"')
    migrated["schema_version"] = CURRENT_SCHEMA_VERSION
    migrated.setdefault("status", "active")
    result.legacy_keys[()] = manifest_keys(AppManifest) | frozenset(LEGACY_KEYS)
    _Mover(result).run()
    logger.debug("migrated a schema 1.0 manifest: %s", "; ".join(result.changes))
    return result


class _Mover:
    """Moves the 1.0 auth keys of ``result.data`` to their 2.0 places."""

    def __init__(self, result: MigrationResult) -> None:
        self.result = result
        self.data = result.data

    def run(self) -> None:
        if "auth_policy" in self.data:
            self._move_auth_policy(self.data.pop("auth_policy"))
        if "sub_auth" in self.data:
            self._move_sub_auth(self.data.pop("sub_auth"))
        if "auth_required" in self.data:
            self._move_auth_required(self.data.pop("auth_required"))

    def _move_auth_policy(self, auth_policy: Any) -> None:
        self.result.legacy_keys[("auth_policy",)] = frozenset(_AUTH_POLICY_MOVES)
        if not isinstance(auth_policy, Mapping):
            self._place(_POLICY, auth_policy, ("auth_policy",))
            return
        for key, value in auth_policy.items():
            # An unknown key is carried along so that validation reports it, at its 1.0 path.
            self._place(_POLICY + _AUTH_POLICY_MOVES.get(key, (key,)), value, ("auth_policy", key))

    def _move_sub_auth(self, sub_auth: Any) -> None:
        self.result.legacy_keys[("sub_auth",)] = manifest_keys(UsersConfig)
        if not isinstance(sub_auth, Mapping):
            self._place(_USERS, sub_auth, ("sub_auth",))
            return
        for key, value in sub_auth.items():
            self._place((*_USERS, key), value, ("sub_auth", key))

    def _move_auth_required(self, auth_required: Any) -> None:
        self._place((*_POLICY, "required"), auth_required, ("auth_required",))
        if isinstance(auth_required, bool):
            self._place(
                (*_POLICY, "allow_anonymous"),
                not auth_required,
                ("auth_required",),
                keep_existing=True,
            )

    def _place(
        self, target: Location, value: Any, origin: Location, *, keep_existing: bool = False
    ) -> None:
        """Put ``value`` at ``target``, merging objects key by key; flag contradictions."""
        container = self._container(target[:-1])
        if container is None:
            return  # a non-object is in the way; validation reports it there
        key = target[-1]
        if key not in container:
            container[key] = value
            self.result.origins[target] = origin
            self.result.changes.append(
                f"move '{_dotted(origin)}' to '{_dotted(target)}'"
                if not keep_existing
                else f"set '{_dotted(target)}' (the opposite of '{_dotted(origin)}')"
            )
        elif isinstance(container[key], dict) and isinstance(value, Mapping):
            for inner_key, inner_value in value.items():
                self._place((*target, inner_key), inner_value, (*origin, inner_key))
        elif container[key] != value and not keep_existing:
            other = _dotted(self.result.origins.get(target, target))
            self.result.problems.append(
                ManifestProblem(
                    render_path(origin),
                    f"conflicts with '{other}', which sets the same thing differently",
                    f"keep only one of them; in schema 2.0 it is '{_dotted(target)}'",
                )
            )

    def _container(self, location: Location) -> dict[Any, Any] | None:
        container: dict[Any, Any] = self.data
        for depth, key in enumerate(location):
            if key not in container:
                container[key] = {}
                self.result.origins.setdefault(location[: depth + 1], location[: depth + 1])
            child = container[key]
            if not isinstance(child, dict):
                return None
            container = child
        return container


def _dotted(location: Location) -> str:
    return ".".join(str(part) for part in location)


def _copy_json_like(value: Any, copies: dict[int, Any]) -> Any:
    """Copy the objects and arrays of ``value`` (any ``Mapping`` becomes a ``dict``, a tuple a
    list) so that migrating never changes the caller's data; other values are shared."""
    if id(value) in copies:
        return copies[id(value)]
    if isinstance(value, Mapping):
        mapping: dict[Any, Any] = {}
        copies[id(value)] = mapping
        mapping.update((key, _copy_json_like(item, copies)) for key, item in value.items())
        return mapping
    if isinstance(value, (list, tuple)):
        sequence: list[Any] = []
        copies[id(value)] = sequence
        sequence.extend(_copy_json_like(item, copies) for item in value)
        return sequence
    return value
