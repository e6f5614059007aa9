"""``create_admin_app``: the console as a FastAPI app, to mount under ``/admin``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mdb_engine.auth.rate_limit import RateLimiter
from mdb_engine.errors import AppNotRegistered
from mdb_engine.host.admin.accounts import AdminAccounts
from mdb_engine.host.admin.rendering import Renderer, read_stylesheet
from mdb_engine.host.admin.routes import (
    AdminConsole,
    FormTooLarge,
    LoginRequired,
    link,
    render,
    router,
)
from mdb_engine.host.admin.security import CsrfRefused, SecurityHeadersMiddleware
from mdb_engine.host.admin.sessions import AdminSessions
from mdb_engine.observability.bad_input import install_bad_input_handlers
from mdb_engine.observability.unavailable import install_unavailable_handler

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = ["LOGIN_ATTEMPTS", "LOGIN_WINDOW_SECONDS", "create_admin_app"]

LOGIN_ATTEMPTS = 10
LOGIN_WINDOW_SECONDS = 300


def create_admin_app(
    engine: MongoDBEngine,
    *,
    load_errors: Callable[[], Mapping[str, str]] | None = None,
    login_limiter: RateLimiter | None = None,
) -> FastAPI:
    """The admin console of ``engine``, to mount with ``host.mount("/admin", app)``.

    ``load_errors()`` maps the folders (or slugs) of apps the host failed to load to the
    reason; they are listed as failed. ``login_limiter`` limits login attempts per client
    address (default: 10 in 5 minutes). The engine's lifecycle stays with the host.
    """
    app = FastAPI(title="mdb-engine admin console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.mdb_admin_console = AdminConsole(
        engine=engine,
        accounts=AdminAccounts(engine),
        sessions=AdminSessions(engine),
        renderer=Renderer(),
        login_limiter=login_limiter or RateLimiter(LOGIN_ATTEMPTS, LOGIN_WINDOW_SECONDS),
        load_errors=load_errors,
        stylesheet=read_stylesheet(),
    )
    app.include_router(router)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(FormTooLarge, _form_too_large)
    app.add_exception_handler(AppNotRegistered, _app_not_registered)
    app.add_exception_handler(HTTPException, _http_error)
    install_unavailable_handler(app)
    install_bad_input_handlers(app)
    return app


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse(link(request, "admin_login_form"), status_code=303)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return _message(request, "Request refused", str(exc), 403)


async def _form_too_large(request: Request, exc: Exception) -> Response:
    return _message(request, "Form too large", str(exc), 413)


async def _app_not_registered(request: Request, exc: Exception) -> Response:
    return _message(request, "No such app", str(exc), 404)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = _message(request, f"Error {exc.status_code}", str(exc.detail), exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _message(request: Request, title: str, message: str, status_code: int) -> Response:
    return render(
        request, "message.html", {"title": title, "message": message}, status_code=status_code
    )
