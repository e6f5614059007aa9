"""Per-endpoint security checks: ``@token_security`` (HTTPS and CSRF).

For the same checks on every route at once, use ``SecurityMiddleware``; the decorator is for
apps that want them on a few sensitive endpoints only. Both apply the rules of
:mod:`mdb_engine.auth.csrf`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mdb_engine.auth._endpoint import with_request
from mdb_engine.auth.csrf import (
    CSRF_COOKIE_NAME,
    CSRF_FAILURE_DETAIL,
    CSRF_FORM_FIELD,
    CSRF_HEADER_NAME,
    MAX_FORM_BYTES,
    form_token,
    is_csrf_exempt,
    is_form_content_type,
    is_safe_method,
    tokens_match,
)
from mdb_engine.errors import ConfigurationError

__all__ = ["HTTPS_REQUIRED_DETAIL", "token_security"]

HTTPS_REQUIRED_DETAIL = (
    "HTTPS is required: send this request to the https:// URL (behind a TLS-terminating "
    "proxy, run uvicorn with --proxy-headers and --forwarded-allow-ips so the scheme is seen)"
)


def token_security(
    enforce_https: bool = True, check_csrf: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]:
    """Refuse (HTTP 403) requests to the endpoint that are not over HTTPS or fail CSRF.

    The checks run after FastAPI has resolved the endpoint's dependencies and before its
    body. ``request.url.scheme`` decides HTTPS, so a proxy must pass the scheme on
    (uvicorn ``--proxy-headers``). CSRF uses the double-submit cookie that
    ``SecurityMiddleware`` sets; bearer-token requests without cookies are exempt.
    """
    if callable(enforce_https):
        raise ConfigurationError(
            "token_security needs parentheses: write @token_security() or "
            "@token_security(enforce_https=True, check_csrf=True)"
        )

    async def before(request: Request) -> Response | None:
        if enforce_https and request.url.scheme != "https":
            return JSONResponse({"detail": HTTPS_REQUIRED_DETAIL}, status_code=403)
        if check_csrf and not await _has_valid_csrf_token(request):
            return JSONResponse({"detail": CSRF_FAILURE_DETAIL}, status_code=403)
        return None

    def decorate(endpoint: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        return with_request(endpoint, before)

    return decorate


async def _has_valid_csrf_token(request: Request) -> bool:
    if is_safe_method(request.method) or is_csrf_exempt(request.headers):
        return True
    expected = request.cookies.get(CSRF_COOKIE_NAME)
    received = request.headers.get(CSRF_HEADER_NAME)
    if received is None and is_form_content_type(request.headers.get("content-type")):
        received = await _form_field(request)
    return tokens_match(expected, received)


async def _form_field(request: Request) -> str | None:
    content_type = request.headers.get("content-type")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        return None
    try:
        body = await request.body()
    except RuntimeError:
        # FastAPI already parsed the form for the endpoint's Form(...) parameters, which
        # consumes the stream; the parsed form is cached on the request.
        value = (await request.form()).get(CSRF_FORM_FIELD)
        return value if isinstance(value, str) else None
    if len(body) > MAX_FORM_BYTES:
        return None
    return form_token(content_type, body)
