"""The host's FastAPI application, which hands ``/apps/<slug>/…`` straight to that app.

Each hosted app is a FastAPI application of its own with its full middleware stack (request
context, error handlers, auth). Reaching it through the host's stack first ran every layer
twice per request: two middleware stacks, two routers, two request ids. The host therefore
looks the slug up in the path and calls the app's ``Mount`` itself, with the scope Starlette's
router would give it; everything else (the home page, ``/apps``, ``/health``, ``/admin``, and
``/apps/<slug>`` without its trailing slash, which the router redirects) takes the host's
own stack.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.routing import Match, Mount
from starlette.types import Receive, Scope, Send

__all__ = ["APPS_PREFIX", "HostApplication"]

APPS_PREFIX = "/apps"  # hosted apps are served at /apps/<slug>


class HostApplication(FastAPI):
    """A FastAPI application that dispatches the requests of its mounted apps directly."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.app_mounts: dict[str, Mount] = {}

    def mount_app(self, slug: str, mount: Mount) -> None:
        """Serve ``mount`` (at ``/apps/<slug>``) directly, and through the router as well."""
        self.router.routes.append(mount)
        self.app_mounts[slug] = mount

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a request for a hosted app in that app alone; the rest in the host."""
        if scope["type"] in ("http", "websocket") and self.app_mounts:
            mount = self._mount_for(scope)
            if mount is not None:
                match, child_scope = mount.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    await mount.app(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    def _mount_for(self, scope: Scope) -> Mount | None:
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        if not path.startswith(APPS_PREFIX + "/"):
            return None
        slug = path[len(APPS_PREFIX) + 1 :].split("/", 1)[0]
        return self.app_mounts.get(slug)
