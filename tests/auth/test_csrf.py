"""The double-submit CSRF rules: tokens, safe methods, the bearer exemption, form fields."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from mdb_engine.auth.csrf import (
    CSRF_COOKIE_NAME,
    CSRF_FAILURE_DETAIL,
    CSRF_HEADER_NAME,
    form_token,
    generate_csrf_token,
    is_csrf_exempt,
    is_form_content_type,
    is_safe_method,
    is_well_formed_token,
    tokens_match,
)

TOKEN = generate_csrf_token()


def test_tokens_are_long_url_safe_and_unique() -> None:
    tokens = {generate_csrf_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) == 43 and is_well_formed_token(token) for token in tokens)


@pytest.mark.parametrize(
    ("expected", "received", "is_match"),
    [
        (TOKEN, TOKEN, True),
        (TOKEN, TOKEN[:-1] + ("A" if TOKEN[-1] != "A" else "B"), False),
        (TOKEN, None, False),
        (None, TOKEN, False),
        (None, None, False),
        ("", "", False),
        ("short", "short", False),
        ("bad token with spaces!", "bad token with spaces!", False),
    ],
)
def test_tokens_match(expected: str | None, received: str | None, is_match: bool) -> None:
    assert tokens_match(expected, received) is is_match


@pytest.mark.parametrize(
    ("method", "is_safe"),
    [
        ("GET", True),
        ("head", True),
        ("OPTIONS", True),
        ("TRACE", True),
        ("POST", False),
        ("PUT", False),
        ("PATCH", False),
        ("DELETE", False),
    ],
)
def test_safe_methods(method: str, is_safe: bool) -> None:
    assert is_safe_method(method) is is_safe


@pytest.mark.parametrize(
    ("headers", "is_exempt"),
    [
        ({"Authorization": "Bearer abc"}, True),
        ({"Authorization": "Bearer abc", "Cookie": "session=1"}, False),
        ({"Cookie": "csrf_token=x"}, False),
        ({}, False),
        ({"Authorization": ""}, False),
    ],
)
def test_only_bearer_requests_without_cookies_are_exempt(
    headers: dict[str, str], is_exempt: bool
) -> None:
    assert is_csrf_exempt(Headers(headers)) is is_exempt


@pytest.mark.parametrize(
    ("content_type", "is_form"),
    [
        ("application/x-www-form-urlencoded", True),
        ("application/x-www-form-urlencoded; charset=utf-8", True),
        ("multipart/form-data; boundary=xyz", True),
        ("Multipart/Form-Data; boundary=xyz", True),
        ("application/json", False),
        ("text/plain", False),
        (None, False),
        ("", False),
    ],
)
def test_form_content_types(content_type: str | None, is_form: bool) -> None:
    assert is_form_content_type(content_type) is is_form


def test_urlencoded_form_token() -> None:
    body = f"title=a+b&{CSRF_COOKIE_NAME}={TOKEN}&x=%20".encode()
    assert form_token("application/x-www-form-urlencoded", body) == TOKEN
    assert form_token("application/x-www-form-urlencoded", b"title=a") is None


def multipart(boundary: str, *parts: tuple[str, str]) -> bytes:
    lines = []
    for disposition, value in parts:
        lines += [f"--{boundary}", f"Content-Disposition: form-data; {disposition}", "", value]
    lines.append(f"--{boundary}--")
    return ("\r\n".join(lines) + "\r\n").encode()


def test_multipart_form_token() -> None:
    body = multipart(
        "----b0undary",
        ('name="csrf_token"; filename="token.txt"', "not me"),
        ('name="title"', "hello\r\nworld"),
        ('name="csrf_token"', TOKEN),
    )
    content_type = 'multipart/form-data; boundary="----b0undary"'
    assert form_token(content_type, body) == TOKEN


def test_multipart_without_the_field_or_boundary() -> None:
    body = multipart("b", ('name="title"', "hello"))
    assert form_token("multipart/form-data; boundary=b", body) is None
    assert form_token("multipart/form-data", body) is None
    assert form_token("application/json", b'{"csrf_token": "x"}') is None


def test_the_failure_message_says_how_to_send_the_token() -> None:
    assert CSRF_COOKIE_NAME in CSRF_FAILURE_DETAIL
    assert CSRF_HEADER_NAME in CSRF_FAILURE_DETAIL
