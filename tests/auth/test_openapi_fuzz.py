"""Schemathesis against the OpenAPI document of the app-users routes (``/auth/*``).

The document is the one FastAPI publishes for an app wired with ``setup_auth_from_manifest``
(checked below to be the one served). Schemathesis generates requests from it, valid and
invalid, for register, login, session, refresh, logout and me; each is sent, in process, to
an app with app users on the test database, with no credentials, a valid access token, a
forged one, or a valid refresh cookie. Every response must:

- not be a server error (``not_a_server_error``);
- have a status code the document lists for that operation (``status_code_conformance``);
- have the documented content type, headers and body schema (``content_type_conformance``,
  ``response_headers_conformance``, ``response_schema_conformance``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case

from mdb_engine import MongoDBEngine
from mdb_engine.auth import setup_auth_from_manifest
from mdb_engine.auth.router import create_auth_router
from mdb_engine.auth.transport import refresh_cookie_name
from tests.auth.conftest import users_manifest
from tests.host.admin.conftest import cheap_argon2

SLUG = "shop"
PASSWORD = "correct horse battery staple"
EXAMPLES = 100  # across the six operations
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def published_document() -> dict[str, Any]:
    """The OpenAPI document of the auth routes as ``setup_auth_from_manifest`` mounts them."""
    app = FastAPI()
    app.include_router(create_auth_router(), prefix="/auth")
    return app.openapi()


SCHEMA = schemathesis.openapi.from_dict(published_document())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CREDENTIALS = st.sampled_from(["none", "access", "forged", "refresh-cookie", "both"])


class Served:
    """The app under test and a client for it."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client
        self.users = 0

    async def new_user(self) -> dict[str, str]:
        """The tokens of a user registered just now (earlier tokens may have been spent by a
        refresh or revoked by a logout)."""
        self.users += 1
        registered = await self.client.post(
            "/auth/register", json={"email": f"user{self.users}@example.com", "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        tokens: dict[str, str] = registered.json()
        return tokens

    async def send(self, case: Case, credentials: str) -> httpx.Response:
        """Send ``case`` with the ``credentials`` chosen for it, and only those."""
        tokens = (
            await self.new_user() if credentials in ("access", "refresh-cookie", "both") else {}
        )
        request = case.as_transport_kwargs(base_url="http://test")
        headers = dict(request.get("headers") or {})
        cookies = dict(request.get("cookies") or {})
        if credentials in ("access", "both"):
            headers["Authorization"] = f"Bearer {tokens['access_token']}"
        elif credentials == "forged":
            headers["Authorization"] = "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."
        if credentials in ("refresh-cookie", "both"):
            cookies[refresh_cookie_name(SLUG)] = tokens["refresh_token"]
        if cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        body = request.get("data")
        if "json" in request:  # a JSON null body too
            body = json.dumps(request["json"]).encode()
        self.client.cookies.clear()
        return await self.client.request(
            request["method"],
            request["url"],
            headers=headers,
            params=request.get("params"),
            content=body,
        )


@pytest.fixture
def _cheap_argon2() -> Iterator[None]:
    with cheap_argon2():
        yield


@pytest.fixture
async def served(engine: MongoDBEngine, _cheap_argon2: None) -> AsyncIterator[Served]:
    await engine.register_app(users_manifest(SLUG, allow_registration=True))
    app = FastAPI()
    await setup_auth_from_manifest(app, engine, SLUG)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Served(app, client)


async def test_the_fuzzed_document_is_the_one_served(served: Served) -> None:
    served_paths = {
        path: item
        for path, item in served.app.openapi()["paths"].items()
        if path.startswith("/auth")
    }

    assert served_paths == published_document()["paths"]
    assert {(operation.method, operation.path) for operation in OPERATIONS} == {
        ("post", "/auth/register"),
        ("post", "/auth/login"),
        ("post", "/auth/session"),
        ("post", "/auth/refresh"),
        ("post", "/auth/logout"),
        ("get", "/auth/me"),
    }


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    case=st.one_of([operation.as_strategy() for operation in OPERATIONS]),
    credentials=CREDENTIALS,
)
async def test_auth_routes_answer_as_documented(
    served: Served, case: Case, credentials: str
) -> None:
    response = await served.send(case, credentials)

    case.validate_response(response, checks=CHECKS)
