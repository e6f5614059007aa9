"""``@require_auth``: an endpoint only for logged-in users, friendly to browsers and APIs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from mdb_engine.auth._endpoint import with_request
from mdb_engine.auth.dependencies import authenticate_request
from mdb_engine.errors import InvalidToken

__all__ = ["require_auth"]


def require_auth(
    redirect_to: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse visitors: a browser is redirected to ``redirect_to`` (with ``?next=`` the page
    it wanted), an API client gets 401. The endpoint finds the user on
    ``request.state.user``."""

    def decorate(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        async def before(request: Request) -> Response | None:
            try:
                user = await authenticate_request(request)
            except InvalidToken as exc:
                return _refuse(request, redirect_to, str(exc))
            if user is None:
                return _refuse(request, redirect_to, "authentication required")
            return None

        return with_request(endpoint, before)

    return decorate


def _refuse(request: Request, redirect_to: str | None, detail: str) -> Response:
    if redirect_to is not None and _is_browser(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        separator = "&" if "?" in redirect_to else "?"
        return RedirectResponse(
            f"{redirect_to}{separator}{urlencode({'next': target})}", status_code=303
        )
    return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _is_browser(request: Request) -> bool:
    # Browsers navigating ask for HTML first; fetch()/API clients ask for JSON or anything.
    return "text/html" in request.headers.get("accept", "")
