"""The console's pages: login and logout, the apps, one app, and its index sync."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mdb_engine.auth.csrf import is_well_formed_token
from mdb_engine.auth.rate_limit import RateLimiter
from mdb_engine.errors import IndexConflict, MDBEngineError
from mdb_engine.host.admin.accounts import AdminAccounts
from mdb_engine.host.admin.rendering import Renderer
from mdb_engine.host.admin.reports import (
    app_summary,
    collection_counts,
    index_plan,
    list_apps,
    metrics_summary,
    users_and_roles,
)
from mdb_engine.host.admin.security import (
    CSRF_FORM_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    clear_cookie,
    client_address,
    generate_csrf_token,
    mount_path,
    set_cookie,
)
from mdb_engine.host.admin.sessions import AdminSession, AdminSessions

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = [
    "AdminConsole",
    "FormTooLarge",
    "LoginRequired",
    "console_of",
    "link",
    "render",
    "router",
]

logger = logging.getLogger(__name__)

ERRORS_SHOWN = 20
MAX_FORM_BYTES = 16 * 1024
LOGIN_CSRF_MAX_AGE = 3600

router = APIRouter()


@dataclass(frozen=True)
class AdminConsole:
    """What the console's pages work with: one engine and the console's own services."""

    engine: MongoDBEngine
    accounts: AdminAccounts
    sessions: AdminSessions
    renderer: Renderer
    login_limiter: RateLimiter
    load_errors: Callable[[], Mapping[str, str]] | None
    stylesheet: bytes


class LoginRequired(MDBEngineError):
    """The page needs a logged-in admin (answered with a redirect to the login page)."""


def console_of(request: Request) -> AdminConsole:
    """The console serving ``request``."""
    console: AdminConsole = request.app.state.mdb_admin_console
    return console


def link(request: Request, name: str, **params: str) -> str:
    """The path of the console's route ``name``, under wherever the console is mounted."""
    return mount_path(request) + str(request.app.url_path_for(name, **params))


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    session: AdminSession | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page of the console, with the links and the session's CSRF token every page uses."""
    values = {
        "links": {
            "apps": link(request, "admin_apps"),
            "login": link(request, "admin_login_form"),
            "logout": link(request, "admin_logout"),
            "css": link(request, "admin_css"),
        },
        "admin_email": session.email if session else None,
        "csrf_token": session.csrf_token if session else "",
        **context,
    }
    html = console_of(request).renderer.render(template, values)
    return HTMLResponse(html, status_code=status_code)


async def current_admin(request: Request) -> AdminSession:
    """The logged-in admin's session; :class:`LoginRequired` without one."""
    session = await console_of(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise LoginRequired("log in to use the admin console")
    return session


class FormTooLarge(MDBEngineError):
    """A form body over the console's limit (HTTP 413)."""


Admin = Annotated[AdminSession, Depends(current_admin)]


async def read_form(request: Request) -> dict[str, str]:
    """The text fields of a small urlencoded form (larger bodies are refused with 413)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise FormTooLarge(f"the form is larger than {MAX_FORM_BYTES} bytes")
    form = await request.form(max_files=0, max_fields=20)
    return {key: value for key, value in form.items() if isinstance(value, str)}


# -- login and logout ------------------------------------------------------------------------


@router.get("/login", name="admin_login_form")
async def login_form(request: Request) -> Response:
    """The login form, with a pre-session CSRF cookie."""
    console = console_of(request)
    if await console.sessions.get(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse(link(request, "admin_apps"), status_code=303)
    return _login_page(request)


def _login_page(
    request: Request, error: str | None = None, status_code: int = 200, email: str = ""
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    is_fresh = not is_well_formed_token(token)
    if token is None or is_fresh:
        token = generate_csrf_token()
    response = render(
        request,
        "login.html",
        {"title": "Log in", "login_csrf": token, "error": error, "email": email},
        status_code=status_code,
    )
    if is_fresh:
        set_cookie(request, response, LOGIN_CSRF_COOKIE, token, LOGIN_CSRF_MAX_AGE)
    return response


@router.post("/login", name="admin_login")
async def login(request: Request) -> Response:
    """Check the credentials; on success start a session and go to the apps page."""
    console = console_of(request)
    form = await read_form(request)
    check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), form.get(CSRF_FORM_FIELD))
    client = client_address(request)
    is_allowed, retry_after = await console.login_limiter.hit(
        console.engine, f"admin-login:{client}"
    )
    email = form.get("email", "")
    if not is_allowed:
        logger.warning("admin console: login attempts from %s over the limit", client)
        response = _login_page(
            request, f"Too many attempts: try again in {retry_after} seconds.", 429, email
        )
        response.headers["Retry-After"] = str(retry_after)
        return response
    account = await console.accounts.authenticate(email, form.get("password", ""))
    if account is None:
        logger.warning("admin console: failed login from %s", client)
        return _login_page(request, "Wrong email or password.", 401, email)
    token, _ = await console.sessions.start(account.email)
    logger.info("admin console: %s logged in from %s", account.email, client)
    response = RedirectResponse(link(request, "admin_apps"), status_code=303)
    lifetime = int(console.sessions.lifetime.total_seconds())
    set_cookie(request, response, SESSION_COOKIE, token, lifetime)
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", name="admin_logout")
async def logout(request: Request, admin: Admin) -> Response:
    """End the session everywhere and go back to the login page."""
    form = await read_form(request)
    check_csrf(admin.csrf_token, form.get(CSRF_FORM_FIELD))
    await console_of(request).sessions.revoke(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(link(request, "admin_login_form"), status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


# -- pages -------------------------------------------------------------------------------------


@router.get("/", name="admin_apps")
async def apps_page(request: Request, admin: Admin) -> Response:
    """Every registered app with its status, the apps that failed to load, and health."""
    console = console_of(request)
    apps, failed = list_apps(console.engine, console.load_errors)
    health = await console.engine.get_health_status()
    rows = [{"app": app, "url": link(request, "admin_app", slug=app.slug)} for app in apps]
    return render(
        request,
        "apps.html",
        {"title": "Apps", "apps": rows, "failed": failed, "health": health},
        session=admin,
    )


@router.get("/apps/{slug}", name="admin_app")
async def app_page(request: Request, slug: str, admin: Admin) -> Response:
    """One app: collections, index plan, users and roles, errors, metrics, health."""
    notice = "Indexes synced." if request.query_params.get("synced") == "1" else None
    return await _app_page(request, slug, admin, notice=notice)


@router.post("/apps/{slug}/sync-indexes", name="admin_sync_indexes")
async def sync_indexes(request: Request, slug: str, admin: Admin) -> Response:
    """Bring the app's indexes to what its manifest declares (conflicts are refused)."""
    form = await read_form(request)
    check_csrf(admin.csrf_token, form.get(CSRF_FORM_FIELD))
    console = console_of(request)
    if app_summary(console.engine, slug) is None:
        return _not_found(request, slug, admin)
    try:
        await console.engine.sync_indexes(slug)
    except IndexConflict as exc:
        return await _app_page(request, slug, admin, error=str(exc), status_code=409)
    logger.info("admin console: %s synced the indexes of app %r", admin.email, slug)
    return RedirectResponse(link(request, "admin_app", slug=slug) + "?synced=1", status_code=303)


async def _app_page(
    request: Request,
    slug: str,
    admin: AdminSession,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    engine = console_of(request).engine
    summary = app_summary(engine, slug)
    if summary is None:
        return _not_found(request, slug, admin)
    context: dict[str, Any] = {
        "title": summary.name,
        "app": summary,
        "notice": notice,
        "error": error,
        "sync_url": link(request, "admin_sync_indexes", slug=slug),
        "metrics": metrics_summary(engine.get_metrics(), slug),
    }
    health = engine.get_health_status()
    errors = engine.error_log.recent(slug, ERRORS_SHOWN)
    if summary.is_active:
        collections, plan, users, context["health"], context["errors"] = await asyncio.gather(
            collection_counts(engine, slug),
            index_plan(engine, slug),
            users_and_roles(engine, slug),
            health,
            errors,
        )
        context.update(collections=collections, plan=plan, users=users)
    else:
        context["health"], context["errors"] = await asyncio.gather(health, errors)
        context.update(collections=None, plan=None, users=None)
    return render(request, "app.html", context, session=admin, status_code=status_code)


def _not_found(request: Request, slug: str, admin: AdminSession | None) -> Response:
    return render(
        request,
        "message.html",
        {"title": "No such app", "message": f"No app {slug!r} is registered on this engine."},
        session=admin,
        status_code=404,
    )


@router.get("/static/admin.css", name="admin_css")
async def stylesheet(request: Request) -> Response:
    """The console's stylesheet."""
    return Response(console_of(request).stylesheet, media_type="text/css")
