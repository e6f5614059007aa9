"""Import an app folder's ``app.py`` as its own package, so that two apps' helper modules
with the same name never meet and ``from .models import Item`` works inside an app."""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from starlette.applications import Starlette

from mdb_engine.errors import ConfigurationError
from mdb_engine.host.discovery import MODULE_FILE, AppFolder

__all__ = ["AppCode", "AppCodeError", "load_app_code"]


class AppCodeError(ConfigurationError):
    """An app folder's ``app.py`` failed to import or exposes nothing to serve."""


@dataclass(frozen=True)
class AppCode:
    """What an ``app.py`` exposes: a FastAPI ``app`` or an ``APIRouter`` named ``router``."""

    app: Starlette | None = None
    router: APIRouter | None = None


def load_app_code(folder: AppFolder) -> AppCode:
    """Import ``folder``'s ``app.py`` (fresh on every call); an empty AppCode without one."""
    module_path = folder.module_path
    if module_path is None:
        return AppCode()
    package = _package_name(folder.path)
    _forget_modules(package)
    spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
    spec.submodule_search_locations = [str(folder.path)]
    sys.modules[package] = importlib.util.module_from_spec(spec)
    try:
        module = importlib.import_module(f"{package}.app")
    except Exception as exc:
        _forget_modules(package)
        raise AppCodeError(f"{module_path} failed to import: {type(exc).__name__}: {exc}") from exc
    app = getattr(module, "app", None)
    if isinstance(app, Starlette):
        return AppCode(app=app)
    router = getattr(module, "router", None)
    if isinstance(router, APIRouter):
        return AppCode(router=router)
    raise AppCodeError(
        f"{module_path} exposes nothing to serve: define `router = APIRouter()` (mounted under "
        f"/apps/<slug>) or `app = FastAPI()`; or delete {MODULE_FILE} to serve the manifest alone"
    )


def _package_name(folder: Path) -> str:
    # One package per folder (two hosts in a process, or two folders with one name, differ).
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() else "_" for c in folder.name)
    return f"mdb_engine_apps_{safe}_{digest}"


def _forget_modules(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
