"""The double-submit CSRF rules shared by ``SecurityMiddleware`` and ``@token_security``.

A random token lives in a cookie that page scripts can read; a state-changing request must
repeat it in the ``X-CSRF-Token`` header (or a ``csrf_token`` form field). Another site can
make a browser *send* the cookie but cannot *read* it, so it cannot repeat it.

CSRF is an attack on cookie-authenticated browsers. A request that carries an
``Authorization`` header and no cookies at all (an API client with a bearer token) cannot be
forged that way and is exempt.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from email.message import Message
from urllib.parse import parse_qs

__all__ = [
    "CSRF_COOKIE_NAME",
    "CSRF_FAILURE_DETAIL",
    "CSRF_FORM_FIELD",
    "CSRF_HEADER_NAME",
    "FORM_CONTENT_TYPES",
    "MAX_FORM_BYTES",
    "SAFE_METHODS",
    "form_token",
    "generate_csrf_token",
    "is_csrf_exempt",
    "is_form_content_type",
    "is_safe_method",
    "is_well_formed_token",
    "tokens_match",
]

CSRF_COOKIE_NAME = "csrf_token"
CSRF_HEADER_NAME = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
MAX_FORM_BYTES = 1024 * 1024  # the largest form body read to find the token field
CSRF_FAILURE_DETAIL = (
    f"CSRF token missing or wrong: send the value of the {CSRF_COOKIE_NAME!r} cookie in the "
    f"{CSRF_HEADER_NAME!r} header (or, for an HTML form, in a {CSRF_FORM_FIELD!r} field)"
)

# ``secrets.token_urlsafe(32)`` gives 43 characters; accept a little room either way, but
# never an empty or odd value that a sloppy client (or an attacker's cookie) might carry.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def generate_csrf_token() -> str:
    """A fresh, unguessable token for the CSRF cookie."""
    return secrets.token_urlsafe(32)


def is_well_formed_token(token: str | None) -> bool:
    """Whether ``token`` looks like one of ours; anything else is treated as no token."""
    return token is not None and _TOKEN_SHAPE.match(token) is not None


def tokens_match(expected: str | None, received: str | None) -> bool:
    """Constant-time comparison; a missing or malformed token never matches."""
    if expected is None or received is None:
        return False
    if not is_well_formed_token(expected) or not is_well_formed_token(received):
        return False
    return hmac.compare_digest(expected.encode(), received.encode())


def is_safe_method(method: str) -> bool:
    """Methods that must not change state, so need no token."""
    return method.upper() in SAFE_METHODS


def is_csrf_exempt(headers: Mapping[str, str]) -> bool:
    """A bearer-token client: ``Authorization`` present, no ``Cookie`` header.

    ``headers`` must look names up case-insensitively (Starlette's ``Headers`` does).
    """
    return bool(headers.get("authorization")) and not headers.get("cookie")


def is_form_content_type(content_type: str | None) -> bool:
    """Whether a body of this type is an HTML form that may carry the token field."""
    return _media_type(content_type)[0] in FORM_CONTENT_TYPES


def form_token(content_type: str | None, body: bytes) -> str | None:
    """The ``csrf_token`` field of a urlencoded or multipart form body, if there is one."""
    media_type, boundary = _media_type(content_type)
    if media_type == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(CSRF_FORM_FIELD)
        return values[0] if values else None
    if media_type == "multipart/form-data" and boundary:
        return _multipart_field(body, boundary.encode("latin-1"), CSRF_FORM_FIELD)
    return None


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    message = Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    return message.get_content_type(), boundary if isinstance(boundary, str) else None


def _multipart_field(body: bytes, boundary: bytes, name: str) -> str | None:
    # Only simple text fields matter here, so a small reader is enough: split on the
    # delimiter, read each part's Content-Disposition, return the first part named ``name``.
    for part in body.split(b"--" + boundary):
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            continue
        headers = Message()
        for line in head.decode("latin-1").split("\r\n"):
            key, colon, value = line.partition(":")
            if colon:
                headers[key.strip()] = value.strip()
        disposition = headers.get("content-disposition")
        if disposition is None or headers.get_param("filename", header="content-disposition"):
            continue
        if headers.get_param("name", header="content-disposition") == name:
            # The CRLF before the next delimiter belongs to the delimiter, not the value.
            return content.removesuffix(b"\r\n").decode("utf-8", errors="replace")
    return None
