"""OsoProvider: answers with Polar rules from the manifest (needs the ``oso`` extra)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdb_engine.errors import ConfigurationError, OptionalDependencyMissing

if TYPE_CHECKING:
    from oso import Oso

    from mdb_engine.core.manifest.models_auth import AuthorizationConfig

__all__ = ["OsoProvider"]


class OsoProvider:
    """Polar ``allow(actor, action, resource)`` rules, evaluated in memory.

    The actor is always the subject string (e.g. the user's email) and the resource and action
    are strings, so a rule reads ``allow("alice@example.com", "read", "reports");`` or
    ``allow(actor: String, "read", "reports") if actor.endswith("@example.com");``. The
    ``user`` document is deliberately not passed: a rule then matches the same way whether or
    not the caller had the document at hand. Write your own provider for attribute rules.
    """

    def __init__(self, oso: Oso) -> None:
        self._oso = oso

    @classmethod
    async def create(
        cls, config: AuthorizationConfig, *, base_dir: Path | None = None
    ) -> OsoProvider:
        """Load the rules of ``config.polar`` (inline) or ``config.polar_file`` (a ``.polar``
        file, absolute or relative to ``base_dir``, the working directory when ``None``)."""
        return cls(await asyncio.to_thread(_load_rules, config, base_dir))

    async def check(
        self,
        subject: str,
        resource: str,
        action: str,
        user: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether the Polar rules allow ``subject`` to ``action`` on ``resource``."""
        return bool(self._oso.is_allowed(subject, action, resource))


def _load_rules(config: AuthorizationConfig, base_dir: Path | None) -> Oso:
    try:
        import oso
    except ImportError as error:
        raise OptionalDependencyMissing("the oso authorization provider", "oso", "oso") from error
    path: Path | None = None
    if config.polar is not None:
        source = "the inline Polar rules (auth.policy.authorization.polar)"
    elif config.polar_file is not None:
        path = Path(config.polar_file).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        source = f"the Polar file {str(path)!r}"
        if not path.is_file():
            raise ConfigurationError(f"{source} does not exist")
    else:
        raise ConfigurationError(
            "the oso provider needs Polar rules: add auth.policy.authorization.polar (inline "
            "rules) or auth.policy.authorization.polar_file (the path of a .polar file)"
        )
    rules = oso.Oso()
    try:
        if path is None:
            rules.load_str(config.polar or "")
        else:
            rules.load_files([path])
    except oso.OsoError as error:
        raise ConfigurationError(f"{source} cannot be loaded: {error}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"{source} cannot be read: {error}") from error
    return rules
