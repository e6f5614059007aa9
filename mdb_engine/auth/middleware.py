"""``SecurityMiddleware``: HTTPS, CSRF and security headers for every HTTP route of an app.

A pure ASGI middleware (not ``BaseHTTPMiddleware``): it streams responses untouched apart
from their headers, and passes WebSocket and lifespan traffic through as is. The CSRF rules
are those of :mod:`mdb_engine.auth.csrf`.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import URL, Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdb_engine.auth.csrf import (
    CSRF_COOKIE_NAME,
    CSRF_FAILURE_DETAIL,
    CSRF_HEADER_NAME,
    MAX_FORM_BYTES,
    form_token,
    generate_csrf_token,
    is_csrf_exempt,
    is_form_content_type,
    is_safe_method,
    is_well_formed_token,
    tokens_match,
)
from mdb_engine.auth.decorators import HTTPS_REQUIRED_DETAIL
from mdb_engine.errors import ConfigurationError

__all__ = ["SecurityMiddleware"]

_REDIRECTABLE = frozenset({"GET", "HEAD"})


class SecurityMiddleware:
    """Opt-in protections for browser-facing apps, each switched on by its own flag.

    - ``require_https``: a plain-HTTP GET/HEAD is redirected (307) to the same URL over
      HTTPS; any other plain-HTTP request is refused (403), since redirecting it would send
      its body twice. Behind a TLS-terminating proxy run uvicorn with ``--proxy-headers``.
    - ``csrf_protection``: every response to a request without the ``csrf_token`` cookie
      sets one (readable by page scripts, ``SameSite=Lax``); unsafe methods must repeat it in
      the ``X-CSRF-Token`` header or a ``csrf_token`` form field, else 403. Templates find
      the current token in ``request.state.csrf_token``. Bearer-token requests without
      cookies are exempt (and get no cookie).
    - ``security_headers``: ``nosniff``, ``X-Frame-Options: DENY``, a strict referrer
      policy, HSTS on HTTPS responses and ``content_security_policy`` when given; a header
      the app already set is left alone.

    ``exempt_paths`` (a path, or a prefix of ``/``-separated paths) skips the HTTPS and CSRF
    checks, e.g. for webhooks and load-balancer health checks. ``max_body_size`` caps the
    form body buffered to find the token field (413 beyond it).
    """

    def __init__(
        self,
        app: ASGIApp,
        require_https: bool = True,
        csrf_protection: bool = True,
        security_headers: bool = True,
        *,
        content_security_policy: str | None = None,
        hsts_max_age: int = 31536000,
        exempt_paths: Sequence[str] = (),
        max_body_size: int = MAX_FORM_BYTES,
    ) -> None:
        if isinstance(exempt_paths, str):
            raise ConfigurationError("exempt_paths is a list of paths, e.g. ['/webhooks']")
        if isinstance(hsts_max_age, bool) or not isinstance(hsts_max_age, int) or hsts_max_age < 0:
            raise ConfigurationError(f"hsts_max_age must be a whole number ≥ 0: {hsts_max_age!r}")
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size < 1
        ):
            raise ConfigurationError(f"max_body_size must be a positive number: {max_body_size!r}")
        self.app = app
        self.require_https = require_https
        self.csrf_protection = csrf_protection
        self.max_body_size = max_body_size
        self.exempt_paths = tuple(path.rstrip("/") or "/" for path in exempt_paths)
        self._headers: list[tuple[str, str]] = []
        self._hsts: str | None = None
        if security_headers:
            self._headers = [
                ("X-Content-Type-Options", "nosniff"),
                ("X-Frame-Options", "DENY"),
                ("Referrer-Policy", "strict-origin-when-cross-origin"),
            ]
            if content_security_policy:
                self._headers.append(("Content-Security-Policy", content_security_policy))
            self._hsts = f"max-age={hsts_max_age}; includeSubDomains"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_https = scope.get("scheme") == "https"
        is_exempt = self._is_exempt_path(scope["path"])
        headers = Headers(scope=scope)
        cookie_token: str | None = None
        new_token: str | None = None
        if self.csrf_protection:
            cookie_token = cookie_parser(headers.get("cookie", "")).get(CSRF_COOKIE_NAME)
            if not is_well_formed_token(cookie_token):
                cookie_token = None
                new_token = generate_csrf_token()
            scope.setdefault("state", {})["csrf_token"] = cookie_token or new_token
            if is_csrf_exempt(headers):
                new_token = None  # an API client, not a browser: no cookie to carry around
        send = self._send_with_headers(send, is_https, new_token)

        if self.require_https and not is_https and not is_exempt:
            await _plain_http_response(scope)(scope, receive, send)
            return
        if (
            self.csrf_protection
            and not is_exempt
            and not is_safe_method(scope["method"])
            and not is_csrf_exempt(headers)
        ):
            receive, refusal = await self._check_csrf(headers, receive, cookie_token)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _is_exempt_path(self, path: str) -> bool:
        return any(
            path == exempt or path.startswith(exempt if exempt.endswith("/") else exempt + "/")
            for exempt in self.exempt_paths
        )

    async def _check_csrf(
        self, headers: Headers, receive: Receive, cookie_token: str | None
    ) -> tuple[Receive, Response | None]:
        received = headers.get(CSRF_HEADER_NAME)
        content_type = headers.get("content-type")
        if received is None and is_form_content_type(content_type):
            buffered = await _buffer_body(headers, receive, self.max_body_size)
            if buffered is None:
                detail = f"request body too large (over {self.max_body_size} bytes)"
                return receive, JSONResponse({"detail": detail}, status_code=413)
            body, receive = buffered
            received = form_token(content_type, body)
        if tokens_match(cookie_token, received):
            return receive, None
        return receive, JSONResponse({"detail": CSRF_FAILURE_DETAIL}, status_code=403)

    def _send_with_headers(self, send: Send, is_https: bool, new_token: str | None) -> Send:
        extra = list(self._headers)
        if is_https and self._hsts is not None:
            extra.append(("Strict-Transport-Security", self._hsts))
        if not extra and new_token is None:
            return send
        cookie = None
        if new_token is not None:
            cookie = f"{CSRF_COOKIE_NAME}={new_token}; Path=/; SameSite=Lax"
            cookie += "; Secure" if is_https else ""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in extra:
                    if name not in response_headers:
                        response_headers.append(name, value)
                if cookie is not None and not any(
                    value.startswith(f"{CSRF_COOKIE_NAME}=")
                    for value in response_headers.getlist("set-cookie")
                ):
                    response_headers.append("Set-Cookie", cookie)
            await send(message)

        return send_with_headers


def _plain_http_response(scope: Scope) -> Response:
    url = URL(scope=scope)
    if scope["method"] not in _REDIRECTABLE or not url.netloc:
        return JSONResponse({"detail": HTTPS_REQUIRED_DETAIL}, status_code=403)
    netloc = url.hostname if url.port in (80, 443) else url.netloc
    return RedirectResponse(url.replace(scheme="https", netloc=netloc), status_code=307)


async def _buffer_body(
    headers: Headers, receive: Receive, limit: int
) -> tuple[bytes, Receive] | None:
    """The whole body (``None`` past ``limit`` bytes) and a ``receive`` that replays it."""
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        return None
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":  # the client went away: replay that too
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return b"".join(chunks), replay
