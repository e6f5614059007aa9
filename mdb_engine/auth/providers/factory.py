"""The provider a manifest's ``auth.policy`` asks for."""

from __future__ import annotations

from pathlib import Path

from mdb_engine.auth.providers.base import AuthorizationProvider
from mdb_engine.core.manifest.models_auth import AuthorizationConfig, AuthPolicy
from mdb_engine.database import ScopedDatabase

__all__ = ["create_provider"]


async def create_provider(
    policy: AuthPolicy | None, db: ScopedDatabase, *, base_dir: Path | None = None
) -> AuthorizationProvider | None:
    """A Casbin or OSO provider as declared; ``None`` without a policy or for ``custom``
    (the app then sets its own on ``app.state.authz_provider``)."""
    if policy is None or policy.provider == "custom":
        return None
    config = policy.authorization or AuthorizationConfig()
    if policy.provider == "oso":
        from mdb_engine.auth.providers.oso import OsoProvider

        return await OsoProvider.create(config, base_dir=base_dir)
    from mdb_engine.auth.providers.casbin import CasbinProvider

    return await CasbinProvider.create(db[config.policies_collection], config, base_dir=base_dir)
