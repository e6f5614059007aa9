"""``@require_auth(redirect_to)``: browsers are redirected, API clients get 401."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from mdb_engine import MongoDBEngine
from mdb_engine.auth import require_auth
from tests.auth.conftest import AppFactory, users_manifest
from tests.auth.test_auth_flow import bearer, register

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def seed_dashboard(app: FastAPI) -> None:
    @app.get("/dashboard")
    @require_auth(redirect_to="/login")
    async def dashboard(request: Request) -> dict[str, Any]:
        user = request.state.user
        return {"user": user}

    @app.get("/api/data")
    @require_auth()
    async def data() -> dict[str, Any]:  # no Request parameter of its own
        return {"data": 1}


async def test_a_logged_in_user_gets_the_page(engine: MongoDBEngine, make_app: AppFactory) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop", configure=seed_dashboard)
    tokens = await register(client)  # the browser now holds the cookies
    page = await client.get("/dashboard", headers=HTML)
    assert page.status_code == 200
    assert page.json()["user"]["email"] == "ada@example.com"
    client.cookies.clear()
    api = await client.get("/api/data", headers=bearer(tokens["access_token"]))
    assert api.json() == {"data": 1}


async def test_a_browser_is_redirected_with_the_page_it_wanted(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop", configure=seed_dashboard)
    response = await client.get("/dashboard?tab=2", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fdashboard%3Ftab%3D2"


async def test_an_api_client_gets_401(engine: MongoDBEngine, make_app: AppFactory) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop", configure=seed_dashboard)
    for path in ("/dashboard", "/api/data"):
        response = await client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    forged = await client.get("/dashboard", headers={**HTML, **bearer("forged")})
    assert forged.status_code == 303  # an invalid token is no login either
    expired_api = await client.get("/api/data", headers=bearer("forged"))
    assert expired_api.json() == {"detail": "the token is malformed"}
