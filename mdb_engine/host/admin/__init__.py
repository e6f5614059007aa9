"""The admin console: a server-rendered FastAPI app that the host mounts at ``/admin``.

It lists the apps and, per app, its collections with document counts, its index plan with a
sync action, its users and roles, recent errors, metrics and health. It reads app data only
through the engine and each app's sandbox, and requires an admin account
(``mdb-engine admin create-user``). See ``docs/admin.md``.
"""

from __future__ import annotations

from mdb_engine.host.admin.accounts import (
    ADMINS_COLLECTION,
    AdminAccount,
    AdminAccountExists,
    AdminAccounts,
)
from mdb_engine.host.admin.app import create_admin_app
from mdb_engine.host.admin.sessions import ADMIN_SESSIONS_COLLECTION, AdminSession, AdminSessions

__all__ = [
    "ADMINS_COLLECTION",
    "ADMIN_SESSIONS_COLLECTION",
    "AdminAccount",
    "AdminAccountExists",
    "AdminAccounts",
    "AdminSession",
    "AdminSessions",
    "create_admin_app",
]
