"""``SecurityMiddleware`` over a real FastAPI app: HTTPS, CSRF cookies and checks, headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from starlette.responses import Response

from mdb_engine.auth import SecurityMiddleware
from mdb_engine.auth.csrf import CSRF_FAILURE_DETAIL, generate_csrf_token
from mdb_engine.errors import ConfigurationError

TOKEN = generate_csrf_token()
COOKIE = {"Cookie": f"csrf_token={TOKEN}"}


def make_app(**options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/page")
    async def page(request: Request) -> dict[str, str]:
        return {"csrf_token": request.state.csrf_token}

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        body = await request.body()
        return Response(body, media_type=request.headers.get("content-type"))

    @app.get("/framed")
    async def framed() -> Response:
        headers = {"X-Frame-Options": "SAMEORIGIN", "Set-Cookie": "csrf_token=app-set; Path=/"}
        return Response("ok", headers=headers)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello " + websocket.url.scheme)
        await websocket.close()

    app.add_middleware(
        SecurityMiddleware,
        require_https=options.pop("require_https", True),
        csrf_protection=options.pop("csrf_protection", True),
        security_headers=options.pop("security_headers", True),
        **options,
    )
    return app


async def send(
    app: FastAPI, method: str, url: str, headers: dict[str, str] | None = None, **options: Any
) -> httpx.Response:
    # A fresh client per request: no cookie jar carries a token from one request to the next.
    base_url = "https://test" if url.startswith("/") else ""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        return await http.request(method, url, headers=headers, **options)


# -- CSRF ---------------------------------------------------------------------------------


async def test_a_request_without_the_cookie_gets_one_and_templates_see_it() -> None:
    response = await send(make_app(), "GET", "/page")
    cookie = response.headers["set-cookie"]
    token = response.cookies["csrf_token"]
    assert response.json() == {"csrf_token": token}
    assert len(token) == 43
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert attributes == {"path=/", "samesite=lax", "secure"}  # not HttpOnly: JS reads it


async def test_an_existing_cookie_is_kept_and_exposed() -> None:
    response = await send(make_app(), "GET", "/page", COOKIE)
    assert response.json() == {"csrf_token": TOKEN}
    assert "set-cookie" not in response.headers


async def test_no_secure_flag_over_plain_http() -> None:
    response = await send(make_app(require_https=False), "GET", "http://test/page")
    assert "secure" not in response.headers["set-cookie"].lower()


async def test_a_malformed_cookie_is_replaced() -> None:
    response = await send(make_app(), "GET", "/page", {"Cookie": "csrf_token=x"})
    assert response.json()["csrf_token"] == response.cookies["csrf_token"] != "x"


@pytest.mark.parametrize(
    "headers",
    [{}, COOKIE, {"X-CSRF-Token": TOKEN}, {**COOKIE, "X-CSRF-Token": generate_csrf_token()}],
    ids=["nothing", "cookie-only", "header-only", "wrong-header"],
)
async def test_unsafe_requests_without_a_matching_token_are_refused(
    headers: dict[str, str],
) -> None:
    response = await send(make_app(), "POST", "/echo", headers, json={"a": 1})
    assert response.status_code == 403
    assert response.json() == {"detail": CSRF_FAILURE_DETAIL}
    assert response.headers["x-frame-options"] == "DENY"


async def test_a_refused_request_without_a_cookie_gets_one_to_retry_with() -> None:
    response = await send(make_app(), "POST", "/echo")
    assert response.status_code == 403
    assert len(response.cookies["csrf_token"]) == 43


async def test_the_header_token_is_accepted() -> None:
    headers = {**COOKIE, "X-CSRF-Token": TOKEN}
    response = await send(make_app(), "POST", "/echo", headers, json={"a": 1})
    assert response.status_code == 200
    assert response.json() == {"a": 1}


async def test_the_urlencoded_form_token_is_accepted_and_the_body_replayed() -> None:
    form = {"title": "héllo wörld", "csrf_token": TOKEN}
    response = await send(make_app(), "POST", "/echo", COOKIE, data=form)
    assert response.status_code == 200
    assert response.content == httpx.Request("POST", "https://x", data=form).read()
    wrong = await send(make_app(), "POST", "/echo", COOKIE, data={"csrf_token": "y" * 43})
    assert wrong.status_code == 403


async def test_the_multipart_form_token_is_accepted_and_the_body_replayed() -> None:
    files = {"upload": ("a.bin", bytes(range(256)) * 10)}
    response = await send(
        make_app(), "POST", "/echo", COOKIE, data={"csrf_token": TOKEN}, files=files
    )
    assert response.status_code == 200
    assert bytes(range(256)) * 10 in response.content
    assert TOKEN.encode() in response.content


async def test_a_streamed_body_arriving_in_chunks_is_replayed_whole() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"a=1&", f"csrf_token={TOKEN}".encode(), b"&b=2"):
            yield part

    headers = {**COOKIE, "Content-Type": "application/x-www-form-urlencoded"}
    response = await send(make_app(), "POST", "/echo", headers, content=chunks())
    assert response.status_code == 200
    assert response.content == f"a=1&csrf_token={TOKEN}&b=2".encode()


async def test_oversized_form_bodies_are_refused_with_413() -> None:
    app = make_app(max_body_size=100)
    headers = {**COOKIE, "Content-Type": "application/x-www-form-urlencoded"}
    declared = await send(app, "POST", "/echo", headers, content=b"x" * 101)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"y" * 40

    streamed = await send(app, "POST", "/echo", headers, content=chunks())
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert "too large" in streamed.json()["detail"]


async def test_bearer_requests_without_cookies_are_exempt_and_get_no_cookie() -> None:
    response = await send(make_app(), "POST", "/echo", {"Authorization": "Bearer t"}, json={})
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    with_cookies = {"Authorization": "Bearer t", **COOKIE}
    assert (await send(make_app(), "POST", "/echo", with_cookies)).status_code == 403


async def test_exempt_paths_skip_the_checks() -> None:
    app = make_app(exempt_paths=["/echo/", "/hooks"])
    assert (await send(app, "POST", "/echo", json={"a": 1})).status_code == 200
    assert (await send(app, "POST", "http://test/echo")).status_code == 200
    assert (await send(app, "POST", "/echoes")).status_code == 403


# -- HTTPS --------------------------------------------------------------------------------


async def test_plain_http_reads_are_redirected_to_https() -> None:
    app = make_app()
    response = await send(app, "GET", "http://test/page?x=1")
    assert response.status_code == 307
    assert response.headers["location"] == "https://test/page?x=1"
    with_port = await send(app, "HEAD", "http://test:8080/page")
    assert with_port.headers["location"] == "https://test:8080/page"


async def test_plain_http_writes_are_refused() -> None:
    headers = {**COOKIE, "X-CSRF-Token": TOKEN}
    response = await send(make_app(), "POST", "http://test/echo", headers)
    assert response.status_code == 403
    assert "HTTPS is required" in response.json()["detail"]


async def test_https_can_be_left_to_the_proxy() -> None:
    response = await send(make_app(require_https=False), "GET", "http://test/page")
    assert response.status_code == 200


# -- headers ------------------------------------------------------------------------------


async def test_security_headers_over_https() -> None:
    response = await send(make_app(), "GET", "/page")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "content-security-policy" not in response.headers


async def test_no_hsts_over_plain_http_and_a_custom_max_age() -> None:
    plain = await send(make_app(require_https=False), "GET", "http://test/page")
    assert "strict-transport-security" not in plain.headers
    assert plain.headers["x-frame-options"] == "DENY"
    custom = await send(make_app(hsts_max_age=60), "GET", "/page")
    assert custom.headers["strict-transport-security"] == "max-age=60; includeSubDomains"


async def test_content_security_policy_option() -> None:
    policy = "default-src 'self'"
    response = await send(make_app(content_security_policy=policy), "GET", "/page")
    assert response.headers["content-security-policy"] == policy


async def test_headers_and_cookie_the_app_set_are_not_overwritten() -> None:
    response = await send(make_app(), "GET", "/framed")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers.get_list("set-cookie") == ["csrf_token=app-set; Path=/"]


async def test_everything_can_be_switched_off() -> None:
    app = make_app(require_https=False, csrf_protection=False, security_headers=False)
    response = await send(app, "POST", "http://test/echo", json={"a": 1})
    assert response.status_code == 200
    for header in ("set-cookie", "x-frame-options", "x-content-type-options"):
        assert header not in response.headers


# -- other scopes and configuration --------------------------------------------------------


def test_websockets_and_lifespan_pass_through() -> None:
    app = make_app()
    started: list[bool] = []

    @app.on_event("startup")
    async def startup() -> None:
        started.append(True)

    # Plain ws:// with no CSRF token: HTTP requests like it would be redirected or refused.
    with TestClient(app) as client, client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "hello ws"
    assert started == [True]


async def test_a_client_leaving_mid_body_is_answered_without_calling_the_app() -> None:
    called: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(True)

    incoming = [
        {"type": "http.request", "body": b"a=1", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "https",
        "path": "/form",
        "query_string": b"",
        "headers": [
            (b"host", b"test"),
            (b"cookie", f"csrf_token={TOKEN}".encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ],
    }
    await SecurityMiddleware(app)(scope, receive, send)
    assert called == []
    assert sent[0]["status"] == 403


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exempt_paths": "/hooks"}, "list of paths"),
        ({"hsts_max_age": -1}, "hsts_max_age"),
        ({"max_body_size": 0}, "max_body_size"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match=message):
        SecurityMiddleware(app, **options)
