"""Serve a folder of apps from one FastAPI application: each app registered with the engine
and mounted under ``/apps/<slug>`` with its auth, WebSockets and observability."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount

from mdb_engine._asgi import install_middleware
from mdb_engine.auth.app_state import attach_engine
from mdb_engine.auth.setup import setup_auth_from_manifest
from mdb_engine.core.engine import MongoDBEngine
from mdb_engine.core.manifest import AppManifest
from mdb_engine.errors import ConfigurationError, MDBEngineError
from mdb_engine.host.admin import create_admin_app
from mdb_engine.host.dependencies import set_app_slug
from mdb_engine.host.discovery import AppFolder, discover_app_folders
from mdb_engine.host.dispatch import APPS_PREFIX, HostApplication
from mdb_engine.host.loading import load_app_code
from mdb_engine.observability.bad_input import install_bad_input_handlers
from mdb_engine.observability.endpoints import mount_observability
from mdb_engine.observability.middleware import RequestContextMiddleware
from mdb_engine.observability.unavailable import install_unavailable_handler

__all__ = ["APPS_PREFIX", "AppHost", "HostedApp", "create_host_app"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostedApp:
    """An app the host serves: its manifest, folder and the FastAPI app mounted for it."""

    manifest: AppManifest
    folder: AppFolder
    app: Starlette | None  # None for an app whose status is not "active"

    @property
    def slug(self) -> str:
        """The app's slug."""
        return self.manifest.slug

    @property
    def path(self) -> str:
        """Where the app is served."""
        return f"{APPS_PREFIX}/{self.slug}"


class AppHost:
    """The apps of one folder on one engine: discovered, registered and mounted at start-up.

    An app that fails to load (a bad manifest, an ``app.py`` that does not import) is left out
    with its error logged and kept in :attr:`load_errors`; the others are served.
    """

    def __init__(self, engine: MongoDBEngine, apps_dir: Path) -> None:
        self.engine = engine
        self.apps_dir = apps_dir
        self.apps: dict[str, HostedApp] = {}
        self.load_errors: dict[str, str] = {}

    async def start(self, host: FastAPI, stack: AsyncExitStack) -> None:
        """Register every app of the folder and mount it on ``host``; ``stack`` closes the
        apps' own lifespans."""
        for folder in discover_app_folders(self.apps_dir):
            try:
                hosted = await self._load(folder)
            except MDBEngineError as exc:
                self.load_errors[folder.path.name] = str(exc)
                logger.error("app folder %s is not served: %s", folder.path, exc)
                continue
            self.apps[hosted.slug] = hosted
            if hosted.app is not None:
                await stack.enter_async_context(_lifespan_of(hosted.app))
                mount = Mount(hosted.path, hosted.app, name=hosted.slug)
                if isinstance(host, HostApplication):
                    host.mount_app(hosted.slug, mount)
                else:
                    host.router.routes.append(mount)
            logger.info("app %r from %s: %s", hosted.slug, folder.path, _where(hosted))

    async def _load(self, folder: AppFolder) -> HostedApp:
        manifest = await self.engine.load_manifest(folder.manifest_path)
        if manifest.slug in self.apps:
            raise ConfigurationError(
                f"slug {manifest.slug!r} is already served from "
                f"{self.apps[manifest.slug].folder.path}: give each app folder its own slug"
            )
        code = load_app_code(folder)  # before registering: a broken app.py changes nothing
        manifest = await self.engine.register_app(manifest)
        if manifest.status != "active":
            return HostedApp(manifest, folder, None)
        app = code.app
        if app is None:
            app = FastAPI(title=manifest.name, description=manifest.description or "")
            if code.router is not None:
                app.include_router(code.router)
        set_app_slug(app, manifest.slug)
        self.engine.attach(app, manifest.slug)
        if self.engine.get_app_auth(manifest.slug) is not None:
            await setup_auth_from_manifest(app, self.engine, manifest.slug)
        return HostedApp(manifest, folder, app)

    def index(self) -> list[dict[str, Any]]:
        """The apps as plain data: slug, name, status and where each is served."""
        listed = [
            {
                "slug": hosted.slug,
                "name": hosted.manifest.name,
                "status": hosted.manifest.status,
                "url": hosted.path + "/" if hosted.app is not None else None,
            }
            for hosted in sorted(self.apps.values(), key=lambda hosted: hosted.slug)
        ]
        listed += [
            {"slug": None, "name": folder, "status": "failed", "url": None, "error": error}
            for folder, error in sorted(self.load_errors.items())
        ]
        return listed


def create_host_app(
    apps_dir: str | Path,
    *,
    engine: MongoDBEngine | None = None,
    mongo_uri: str | None = None,
    db_name: str | None = None,
    admin: bool = True,
) -> FastAPI:
    """The FastAPI application serving every app of ``apps_dir`` under ``/apps/<slug>``,
    the admin console under ``/admin`` and the engine's ``/health``, ``/ready`` and
    ``/metrics``. The engine (``engine``, else one built from ``mongo_uri``/``db_name`` and
    the environment) is initialized at start-up and shut down with the application."""
    engine = engine or MongoDBEngine(mongo_uri, db_name)
    host_apps = AppHost(engine, Path(apps_dir))

    @asynccontextmanager
    async def lifespan(host: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await engine.initialize()
            stack.push_async_callback(engine.shutdown)
            await host_apps.start(host, stack)
            yield

    host = HostApplication(title="mdb-engine", lifespan=lifespan, docs_url=None, redoc_url=None)
    host.state.mdb_host = host_apps
    attach_engine(host, engine)
    install_middleware(host, Middleware(RequestContextMiddleware))
    install_unavailable_handler(host)
    install_bad_input_handlers(host)
    mount_observability(host, engine)

    @host.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> HTMLResponse:
        return HTMLResponse(_render_home(host_apps.index(), admin=admin))

    @host.get("/apps", include_in_schema=False)
    async def apps(request: Request) -> JSONResponse:
        return JSONResponse({"apps": host_apps.index()})

    if admin:
        host.mount("/admin", create_admin_app(engine, load_errors=lambda: host_apps.load_errors))
    return host


@asynccontextmanager
async def _lifespan_of(app: Starlette) -> AsyncIterator[None]:
    # Starlette does not run a mounted application's lifespan: the host runs it.
    async with app.router.lifespan_context(app):
        yield


def _where(hosted: HostedApp) -> str:
    if hosted.app is None:
        return f"registered, not served (status {hosted.manifest.status!r})"
    return f"served at {hosted.path}/"


def _render_home(apps: Sequence[Mapping[str, Any]], *, admin: bool) -> str:
    rows = "".join(
        "<li>"
        + (
            f'<a href="{escape(app["url"])}">{escape(str(app["name"]))}</a>'
            if app["url"]
            else escape(str(app["name"]))
        )
        + f" <small>{escape(str(app['slug'] or ''))} · {escape(str(app['status']))}</small></li>"
        for app in apps
    )
    console = '<p><a href="admin/">Admin console</a></p>' if admin else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>mdb-engine</title></head>"
        f"<body><h1>mdb-engine</h1><ul>{rows or '<li>No apps yet.</li>'}</ul>{console}"
        "</body></html>"
    )
