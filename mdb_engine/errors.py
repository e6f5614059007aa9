"""One exception hierarchy for the whole engine, rooted at :class:`MDBEngineError`.

Callers can catch ``MDBEngineError`` for "anything the engine refused or could not do"; each
family below narrows that down. Driver errors (``pymongo.errors.*``) pass through unchanged
where the engine only forwards an operation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bson.errors import InvalidDocument

__all__ = [
    "AppNotRegistered",
    "AuthError",
    "ConfigurationError",
    "DatabaseUnavailable",
    "DumpError",
    "EmbeddedMongoError",
    "EmbeddingError",
    "EngineNotInitialized",
    "GraduationError",
    "ImportConflict",
    "IndexConflict",
    "IndexManagementError",
    "InputTooDeep",
    "InvalidToken",
    "LLMError",
    "MDBEngineError",
    "ManifestError",
    "ManifestProblem",
    "MongodNotFound",
    "MongodStartError",
    "OptionalDependencyMissing",
    "RegistryError",
    "ScopeViolation",
]


class MDBEngineError(Exception):
    """Root of every error raised by mdb-engine itself."""


class ConfigurationError(MDBEngineError, ValueError):
    """A setting (argument, environment variable, option) is missing or invalid."""


class OptionalDependencyMissing(MDBEngineError, ImportError):
    """A feature needs an optional extra that is not installed."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.feature = feature
        self.extra = extra
        self.module = module
        super().__init__(
            f"{feature} needs the optional package {module!r}, which is not installed; "
            f"install it with: pip install 'mdb-engine[{extra}]'"
        )


class LLMError(MDBEngineError):
    """An LLM server failed, refused the request or answered something unusable."""


class DatabaseUnavailable(MDBEngineError, ConnectionError):
    """MongoDB could not be reached."""


class EngineNotInitialized(MDBEngineError, RuntimeError):
    """The engine was used before ``await engine.initialize()`` or after ``shutdown()``."""


class EmbeddingError(MDBEngineError):
    """An embedding provider failed, refused the request or answered something unusable."""


@dataclass(frozen=True)
class ManifestProblem:
    """One problem in a manifest: where (a JSON path such as ``$.managed_indexes.tasks[0]``),
    what is wrong, and, where one can be given, a hint on how to fix it."""

    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ManifestError(MDBEngineError, ValueError):
    """A manifest is invalid; ``problems`` lists every problem found, each with its path."""

    def __init__(self, problems: list[ManifestProblem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        count = len(self.problems)
        lines = [f"invalid manifest{where}: {count} problem{'s' if count != 1 else ''}"]
        lines.extend(f"  - {problem}" for problem in self.problems)
        super().__init__("\n".join(lines))


class RegistryError(MDBEngineError):
    """The app registry refused an operation."""


class AppNotRegistered(RegistryError, LookupError):
    """No active app with that slug is registered on this engine."""

    def __init__(self, slug: str, reason: str = "is not registered") -> None:
        self.slug = slug
        super().__init__(f"app {slug!r} {reason} on this engine")


class ScopeViolation(MDBEngineError, PermissionError):
    """An operation would read or change data outside the app's sandbox; nothing was sent."""


class InputTooDeep(MDBEngineError, InvalidDocument):
    """A document, filter, update or pipeline is nested deeper than MongoDB accepts; nothing
    was sent. Also a ``bson.errors.InvalidDocument``, as PyMongo raises for what it cannot
    encode."""


class IndexManagementError(MDBEngineError):
    """A declared index could not be brought into the declared state."""


class _ConflictingIndex(Protocol):
    # The parts of ``mdb_engine.indexes.IndexChange`` a conflict message needs.
    @property
    def collection(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def declared(self) -> Mapping[str, Any] | None: ...
    @property
    def existing(self) -> Mapping[str, Any] | None: ...
    @property
    def detail(self) -> str: ...


class IndexConflict(IndexManagementError):
    """A declared index differs from an existing one in a way only a rebuild can fix.

    Nothing was changed. ``conflicts`` holds each index with its declared and existing spec.
    """

    def __init__(self, slug: str, conflicts: Sequence[_ConflictingIndex]) -> None:
        self.slug = slug
        self.conflicts = tuple(conflicts)
        lines = [
            f"app {slug!r}: {len(self.conflicts)} declared index(es) conflict with existing ones; "
            "nothing was changed"
        ]
        for conflict in self.conflicts:
            lines.append(
                f"  index {conflict.name!r} on collection {conflict.collection!r} "
                f"({conflict.detail}):\n"
                f"    declared: {dict(conflict.declared or {})}\n"
                f"    existing: {dict(conflict.existing or {})}"
            )
        lines.append(
            "Fix the manifest to match the existing index, or rebuild it as declared with "
            '`await engine.sync_indexes(slug, on_conflict="recreate")` or '
            "`mdb-engine indexes sync MANIFEST --recreate` (the old index is dropped first)."
        )
        super().__init__("\n".join(lines))


class AuthError(MDBEngineError):
    """A request could not be authenticated or authorized."""


class InvalidToken(AuthError):
    """A token is malformed, forged, expired, revoked or meant for another app (HTTP 401).

    The message says why; it never contains the token itself.
    """


class EmbeddedMongoError(MDBEngineError):
    """The local development/test mongod could not be found, started or stopped."""


class MongodNotFound(EmbeddedMongoError, FileNotFoundError):
    """No mongod binary was found in any of the places searched."""


class MongodStartError(EmbeddedMongoError):
    """A mongod process was found but did not start or did not become primary in time."""


class GraduationError(MDBEngineError):
    """An app could not be exported to, or imported from, a mongodump directory."""


class DumpError(GraduationError, ValueError):
    """A dump directory is damaged or not in mongodump's layout; nothing was imported."""

    def __init__(self, path: str, problem: str, hint: str | None = None) -> None:
        self.path = path
        self.problem = problem
        self.hint = hint
        super().__init__(f"{path}: {problem}" + (f" ({hint})" if hint else ""))


class ImportConflict(GraduationError):
    """The import target already holds data or the app; nothing was changed."""
