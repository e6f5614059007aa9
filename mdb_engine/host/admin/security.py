"""The console's cookies, CSRF checks and response headers.

Two cookies, both ``HttpOnly``, ``SameSite=Strict`` and limited to the console's mount path
(``Secure`` over HTTPS): the session token, and before login a random token that the login
form repeats (double submit). After login, every form repeats the session's CSRF token
(synchronizer token, derived from the session). A state-changing request without the right
token is refused with 403.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdb_engine.auth.csrf import CSRF_FORM_FIELD, generate_csrf_token, tokens_match
from mdb_engine.errors import MDBEngineError

__all__ = [
    "CSRF_FORM_FIELD",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "CsrfRefused",
    "SecurityHeadersMiddleware",
    "check_csrf",
    "clear_cookie",
    "client_address",
    "generate_csrf_token",
    "mount_path",
    "set_cookie",
]

SESSION_COOKIE = "mdb_admin_session"
LOGIN_CSRF_COOKIE = "mdb_admin_login_csrf"

# No scripts at all; styles only from the console itself; forms only back to it.
_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


class CsrfRefused(MDBEngineError, PermissionError):
    """A form came without its CSRF token or with a wrong one (HTTP 403)."""


def check_csrf(expected: str | None, received: str | None) -> None:
    """Raise :class:`CsrfRefused` unless ``received`` is the ``expected`` token."""
    if not tokens_match(expected, received):
        raise CsrfRefused(
            "This form's security token is missing or out of date. Reload the page and try again."
        )


def mount_path(request: Request) -> str:
    """Where the console is mounted (``/admin``), for links and cookie paths."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Set one of the console's cookies on ``response``."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=mount_path(request) or "/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    """Delete one of the console's cookies."""
    response.delete_cookie(
        name,
        path=mount_path(request) or "/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def client_address(request: Request) -> str:
    """The client's address, the key of the login rate limit."""
    return request.client.host if request.client is not None else "unknown"


class SecurityHeadersMiddleware:
    """Add the console's security headers (CSP, no framing, no caching) to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(name, value) for name, value in _HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
