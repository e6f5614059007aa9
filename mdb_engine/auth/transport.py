"""How tokens travel: an ``Authorization: Bearer`` header or HttpOnly cookies.

API clients send the bearer header; browsers get HttpOnly cookies, named per app so that apps
served from one host do not overwrite each other's. The refresh cookie is only sent to the
auth routes (its ``Path``) and never cross-site (``SameSite=Strict``).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response

__all__ = [
    "access_cookie_name",
    "access_token_from",
    "bearer_token",
    "clear_auth_cookies",
    "refresh_cookie_name",
    "set_auth_cookies",
]


def access_cookie_name(slug: str) -> str:
    """The cookie holding app ``slug``'s access token."""
    return f"mdb_{slug}_access"


def refresh_cookie_name(slug: str) -> str:
    """The cookie holding app ``slug``'s refresh token."""
    return f"mdb_{slug}_refresh"


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def access_token_from(connection: HTTPConnection, slug: str) -> str | None:
    """The access token of a request: the bearer header first, then the app's cookie."""
    return bearer_token(connection) or connection.cookies.get(access_cookie_name(slug)) or None


def set_auth_cookies(
    response: Response,
    slug: str,
    *,
    access_token: str,
    refresh_token: str,
    access_max_age: int,
    refresh_max_age: int,
    refresh_path: str,
    secure: bool,
) -> None:
    """Put both tokens in HttpOnly cookies."""
    response.set_cookie(
        access_cookie_name(slug),
        access_token,
        max_age=access_max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        refresh_cookie_name(slug),
        refresh_token,
        max_age=refresh_max_age,
        path=refresh_path,
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_auth_cookies(response: Response, slug: str, *, refresh_path: str, secure: bool) -> None:
    """Tell the browser to drop both cookies."""
    response.delete_cookie(
        access_cookie_name(slug), path="/", secure=secure, httponly=True, samesite="lax"
    )
    response.delete_cookie(
        refresh_cookie_name(slug),
        path=refresh_path,
        secure=secure,
        httponly=True,
        samesite="strict",
    )
