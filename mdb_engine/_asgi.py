"""Starlette app plumbing shared by the packages that serve HTTP (auth, observability).

Apps are often set up from a start-up hook (the seeds call setup in
``@app.on_event("startup")``), when Starlette has already built its middleware stack and
``add_middleware`` refuses. Middleware is then added to ``app.user_middleware`` directly and
the stack is dropped, so the next request rebuilds it with the new middleware included.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware

__all__ = ["install_middleware"]


def install_middleware(app: Any, middleware: Middleware) -> None:
    """Make ``middleware`` the outermost layer of ``app``, before or after start-up.

    An earlier middleware of the same class is replaced rather than stacked.
    """
    existing = [
        position
        for position, entry in enumerate(app.user_middleware)
        if entry.cls is middleware.cls
    ]
    if existing:
        app.user_middleware[existing[0]] = middleware
    else:
        app.user_middleware.insert(0, middleware)
    app.middleware_stack = None  # rebuilt on the next request (a no-op before start-up)
