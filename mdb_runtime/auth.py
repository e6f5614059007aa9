"""MDB_RUNTIME's auth module: the runtime check ``get_app_sub_user`` and the engine's auth."""

from __future__ import annotations

from mdb_engine.auth import get_app_sub_user, get_authz_provider, get_current_user

__all__ = ["get_app_sub_user", "get_authz_provider", "get_current_user"]
