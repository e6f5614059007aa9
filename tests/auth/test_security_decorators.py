"""``@token_security`` over real FastAPI apps, and the shared ``with_request`` wrapper."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Request
from starlette.responses import JSONResponse, Response

from mdb_engine.auth import token_security
from mdb_engine.auth._endpoint import with_request
from mdb_engine.auth.csrf import CSRF_FAILURE_DETAIL, generate_csrf_token
from mdb_engine.auth.decorators import HTTPS_REQUIRED_DETAIL
from mdb_engine.errors import ConfigurationError

TOKEN = generate_csrf_token()
COOKIE = {"Cookie": f"csrf_token={TOKEN}"}


async def get_current_user(x_user: str = Header("ann")) -> dict[str, str]:
    return {"email": f"{x_user}@example.com"}


def seed_app() -> FastAPI:
    """The seed's ``@token_security`` example, as written in the README."""
    app = FastAPI()

    @app.post("/sensitive")
    @token_security(enforce_https=True, check_csrf=True)
    async def sensitive_operation(user: dict = Depends(get_current_user)):  # type: ignore[type-arg]  # noqa: B008
        return {"data": "sensitive", "user": user["email"]}

    return app


async def send(
    app: FastAPI, method: str, url: str, headers: dict[str, str] | None = None, **options: Any
) -> httpx.Response:
    # A fresh client per request: no cookie jar carries a token from one request to the next.
    base_url = "https://test" if url.startswith("/") else ""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        return await http.request(method, url, headers=headers, **options)


async def test_the_seed_example_with_a_matching_token() -> None:
    response = await send(seed_app(), "POST", "/sensitive", {**COOKIE, "X-CSRF-Token": TOKEN})
    assert response.status_code == 200
    assert response.json() == {"data": "sensitive", "user": "ann@example.com"}


async def test_plain_http_is_refused() -> None:
    headers = {**COOKIE, "X-CSRF-Token": TOKEN}
    response = await send(seed_app(), "POST", "http://test/sensitive", headers)
    assert response.status_code == 403
    assert response.json() == {"detail": HTTPS_REQUIRED_DETAIL}
    assert "--proxy-headers" in HTTPS_REQUIRED_DETAIL


@pytest.mark.parametrize(
    "headers",
    [
        {},
        COOKIE,
        {"X-CSRF-Token": TOKEN},
        {**COOKIE, "X-CSRF-Token": generate_csrf_token()},
        {"Authorization": "Bearer abc", **COOKIE},
    ],
    ids=["nothing", "cookie-only", "header-only", "wrong-header", "bearer-with-cookies"],
)
async def test_missing_or_wrong_token_is_refused(headers: dict[str, str]) -> None:
    response = await send(seed_app(), "POST", "/sensitive", headers)
    assert response.status_code == 403
    assert response.json() == {"detail": CSRF_FAILURE_DETAIL}


async def test_bearer_requests_without_cookies_are_exempt() -> None:
    response = await send(seed_app(), "POST", "/sensitive", {"Authorization": "Bearer abc"})
    assert response.status_code == 200


async def test_token_in_an_urlencoded_form_field() -> None:
    app = seed_app()
    good = await send(app, "POST", "/sensitive", COOKIE, data={"csrf_token": TOKEN, "a": "1"})
    bad = await send(app, "POST", "/sensitive", COOKIE, data={"csrf_token": "x" * 43})
    assert (good.status_code, bad.status_code) == (200, 403)


async def test_token_in_a_multipart_form_field() -> None:
    app = seed_app()
    files = {"upload": ("a.txt", b"content")}
    good = await send(app, "POST", "/sensitive", COOKIE, data={"csrf_token": TOKEN}, files=files)
    bad = await send(app, "POST", "/sensitive", COOKIE, data={"other": TOKEN}, files=files)
    assert (good.status_code, bad.status_code) == (200, 403)


async def test_an_oversized_form_is_not_read() -> None:
    body = f"csrf_token={TOKEN}&pad=".encode() + b"x" * (1024 * 1024)
    headers = {**COOKIE, "Content-Type": "application/x-www-form-urlencoded"}
    response = await send(seed_app(), "POST", "/sensitive", headers, content=body)
    assert response.status_code == 403


async def test_an_oversized_streamed_form_is_not_read() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield f"csrf_token={TOKEN}&pad=".encode()
        for _ in range(17):
            yield b"x" * 65536

    headers = {**COOKIE, "Content-Type": "application/x-www-form-urlencoded"}
    response = await send(seed_app(), "POST", "/sensitive", headers, content=chunks())
    assert response.status_code == 403


async def test_safe_methods_need_no_token_and_checks_can_be_switched_off() -> None:
    app = FastAPI()

    @app.get("/read")
    @token_security()
    async def read() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/open")
    @token_security(enforce_https=False, check_csrf=False)
    async def open_endpoint() -> dict[str, bool]:
        return {"ok": True}

    assert (await send(app, "GET", "/read")).status_code == 200
    assert (await send(app, "GET", "http://test/read")).status_code == 403
    assert (await send(app, "POST", "http://test/open")).status_code == 200


def test_forgetting_the_parentheses_says_so() -> None:
    async def endpoint() -> None:
        return None

    with pytest.raises(ConfigurationError, match="needs parentheses"):
        token_security(endpoint)  # type: ignore[arg-type]


# -- with_request: the helper shared by the decorators ------------------------------------


async def test_before_can_short_circuit_and_the_endpoint_may_ask_for_the_request() -> None:
    app = FastAPI()
    seen: list[str] = []

    async def only_for_ann(request: Request) -> Response | None:
        request.state.user = request.headers.get("x-user")
        if request.state.user != "ann":
            return JSONResponse({"detail": "not ann"}, status_code=401)
        return None

    async def dashboard(request: Request, page: int = 1) -> dict[str, Any]:
        seen.append(request.state.user)
        return {"user": request.state.user, "page": page}

    app.get("/dashboard")(with_request(dashboard, only_for_ann))

    refused = await send(app, "GET", "/dashboard", {"x-user": "bob"})
    allowed = await send(app, "GET", "/dashboard?page=2", {"x-user": "ann"})
    assert (refused.status_code, refused.json()) == (401, {"detail": "not ann"})
    assert allowed.json() == {"user": "ann", "page": 2}
    assert seen == ["ann"]


async def test_wrappers_stack_and_share_one_request_parameter() -> None:
    order: list[str] = []

    def note(name: str) -> Any:
        async def before(request: Request) -> Response | None:
            order.append(f"{name}:{request.url.path}")
            return None

        return before

    async def endpoint(item: str) -> dict[str, str]:
        order.append("endpoint")
        return {"item": item}

    wrapped = with_request(with_request(endpoint, note("inner")), note("outer"))
    parameters = inspect.signature(wrapped).parameters
    assert list(parameters) == ["item", "_mdb_engine_request"]

    app = FastAPI()
    app.get("/items/{item}")(wrapped)
    assert (await send(app, "GET", "/items/x")).json() == {"item": "x"}
    assert order == ["outer:/items/x", "inner:/items/x", "endpoint"]


async def test_hidden_parameter_avoids_name_clashes_and_precedes_var_keyword() -> None:
    async def before(request: Request) -> None:
        return None

    async def endpoint(_mdb_engine_request: int = 0, **extra: Any) -> int:
        return _mdb_engine_request

    parameters = list(inspect.signature(with_request(endpoint, before)).parameters.values())
    assert [parameter.name for parameter in parameters] == [
        "_mdb_engine_request",
        "_mdb_engine_request_",
        "extra",
    ]
    assert parameters[1].annotation is Request
    assert parameters[1].kind is inspect.Parameter.KEYWORD_ONLY


async def test_names_only_known_to_type_checkers_are_left_to_fastapi() -> None:
    seen: list[str] = []

    async def before(request: Request) -> None:
        seen.append(request.url.path)

    async def endpoint(request: Request, item: OnlyImportedWhenTypeChecking) -> Any:  # noqa: F821
        return (request.url.path, item)

    wrapped = with_request(endpoint, before)
    parameters = inspect.signature(wrapped).parameters
    # The signature could not be evaluated, so the annotations stay strings; the endpoint's
    # own ``request`` parameter is still recognised and reused.
    assert list(parameters) == ["request", "item"]
    assert parameters["item"].annotation == "OnlyImportedWhenTypeChecking"
    request = Request({"type": "http", "path": "/x", "headers": [], "query_string": b""})
    assert await wrapped(request=request, item=3) == ("/x", 3)
    assert seen == ["/x"]


def test_generators_are_refused() -> None:
    async def before(request: Request) -> None:
        return None

    async def stream() -> AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(ConfigurationError, match="generator"):
        with_request(stream, before)


async def test_metadata_of_the_endpoint_is_kept() -> None:
    async def before(request: Request) -> None:
        return None

    async def documented() -> None:
        """Shown in the OpenAPI description."""

    wrapped = with_request(documented, before)
    assert wrapped.__name__ == "documented"
    assert wrapped.__doc__ == "Shown in the OpenAPI description."
    assert inspect.iscoroutinefunction(wrapped)
