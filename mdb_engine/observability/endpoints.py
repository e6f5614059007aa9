"""``/metrics``, ``/health`` and ``/ready`` as routes of a FastAPI (Starlette) app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mdb_engine.observability.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = ["mount_observability"]


def mount_observability(
    app: Any,
    engine: MongoDBEngine,
    *,
    metrics_path: str | None = "/metrics",
    health_path: str | None = "/health",
    ready_path: str | None = "/ready",
) -> list[str]:
    """Add the endpoints (``None`` leaves one out); the paths added. A path the app already
    routes is left alone."""

    async def metrics(request: Request) -> Response:
        return Response(engine.metrics.render(), media_type=CONTENT_TYPE)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def ready(request: Request) -> Response:
        report = await engine.get_health_status()
        return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)

    taken = {getattr(route, "path", None) for route in app.router.routes}
    added = []
    for path, endpoint, name in (
        (metrics_path, metrics, "mdb_engine_metrics"),
        (health_path, health, "mdb_engine_health"),
        (ready_path, ready, "mdb_engine_ready"),
    ):
        if path is not None and path not in taken:
            app.router.routes.append(Route(path, endpoint, methods=["GET"], name=name))
            added.append(path)
    return added
