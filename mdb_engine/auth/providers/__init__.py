"""Authorization providers: the Protocol and the Casbin and OSO implementations.

Importing this package needs neither extra; creating a provider does.
"""

from __future__ import annotations

from mdb_engine.auth.providers.base import AuthorizationProvider
from mdb_engine.auth.providers.casbin import CasbinProvider
from mdb_engine.auth.providers.oso import OsoProvider

__all__ = ["AuthorizationProvider", "CasbinProvider", "OsoProvider"]
