"""Serve many apps from a folder of manifests (``mdb-engine serve``) and the admin console."""

from __future__ import annotations

from mdb_engine.host.admin import create_admin_app
from mdb_engine.host.dependencies import get_app_db, get_app_slug, get_engine
from mdb_engine.host.discovery import AppFolder, discover_app_folders
from mdb_engine.host.hosting import AppHost, HostedApp, create_host_app
from mdb_engine.host.loading import AppCodeError

__all__ = [
    "AppCodeError",
    "AppFolder",
    "AppHost",
    "HostedApp",
    "create_admin_app",
    "create_host_app",
    "discover_app_folders",
    "get_app_db",
    "get_app_slug",
    "get_engine",
]
