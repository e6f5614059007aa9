"""The app-users routes over HTTP on the real mongod: the whole life of a session."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from mdb_engine import MongoDBEngine
from tests.auth.conftest import AppFactory, users_manifest


async def register(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, Any]:
    response = await client.post(
        "/auth/register", json={"email": email, "password": "correct horse", "name": "Ada"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_register_login_access_refresh_logout_refused(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")

    registered = await register(client)
    assert registered["user"]["email"] == "ada@example.com"
    assert registered["token_type"] == "bearer"

    client.cookies.clear()
    login = await client.post(
        "/auth/login", json={"email": "ADA@example.com ", "password": "correct horse"}
    )
    assert login.status_code == 200
    tokens = login.json()
    client.cookies.clear()

    me = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["user_id"] == registered["user"]["user_id"]

    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    client.cookies.clear()

    logout = await client.post("/auth/logout", headers=bearer(new["access_token"]))
    assert logout.status_code == 204

    refused = await client.get("/auth/me", headers=bearer(new["access_token"]))
    assert refused.status_code == 401
    assert "logged out" in refused.json()["detail"]
    again = await client.post("/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert again.status_code == 401


async def test_wrong_password_and_unknown_user_get_the_same_401(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")
    await register(client)

    wrong = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": "wrong horse"}
    )
    unknown = await client.post(
        "/auth/login", json={"email": "bob@example.com", "password": "wrong horse"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "invalid email or password"}


async def test_a_token_of_app_a_is_refused_by_app_b(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest("shop"))
    await engine.register_app(users_manifest("blog"))
    _, shop = await make_app(engine, "shop")
    _, blog = await make_app(engine, "blog")
    tokens = await register(shop)

    refused = await blog.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the token was issued for another app"
    no_refresh = await blog.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert no_refresh.status_code == 401
    still = await shop.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert still.status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")
    first = await register(client)
    client.cookies.clear()
    second = (await client.post("/auth/refresh", json=first)).json()
    client.cookies.clear()

    replay = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    # The thief's replay killed the legitimate holder's tokens too.
    legit = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert legit.status_code == 401
    me = await client.get("/auth/me", headers=bearer(second["access_token"]))
    assert me.status_code == 401


async def test_a_logout_is_seen_at_once_by_another_engine_process(
    engine: MongoDBEngine, make_app: AppFactory, mongodb_uri: str, mongodb_database: str
) -> None:
    await engine.register_app(users_manifest())
    _, first = await make_app(engine, "shop")
    other = MongoDBEngine(mongodb_uri, mongodb_database)
    await other.initialize()
    try:
        await other.register_app(users_manifest())
        _, second = await make_app(other, "shop")
        tokens = await register(first)
        first.cookies.clear()
        assert (await second.get("/auth/me", headers=bearer(tokens["access_token"]))).is_success

        assert (await second.get("/auth/me", headers=bearer(tokens["access_token"]))).is_success

        assert (await first.post("/auth/logout", headers=bearer(tokens["access_token"]))).is_success
        logged_out = time.monotonic()

        # Engine 2 answers from memory that a change stream keeps true: the revocation
        # reaches it within milliseconds, with no request in between needed.
        while (await second.get("/auth/me", headers=bearer(tokens["access_token"]))).is_success:
            assert time.monotonic() - logged_out < 2.0, "engine 2 never saw the logout"
            await asyncio.sleep(0.005)
        # The logging-out process itself refuses the token at once.
        assert (
            await first.get("/auth/me", headers=bearer(tokens["access_token"]))
        ).status_code == 401
    finally:
        await other.shutdown()


async def test_the_revoking_process_refuses_the_token_at_once(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")
    tokens = await register(client)
    client.cookies.clear()
    for _ in range(3):  # the session is now answered from memory
        assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).is_success
    auth = engine.get_app_auth("shop")
    assert auth is not None
    session_id = (await auth.authenticate(tokens["access_token"]))["session_id"]
    assert await auth.logout(session_id)
    refused = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert refused.status_code == 401


async def test_cookie_transport_for_browsers(engine: MongoDBEngine, make_app: AppFactory) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")
    response = await client.post(
        "/auth/register", json={"email": "ada@example.com", "password": "correct horse"}
    )
    set_cookies = response.headers.get_list("set-cookie")
    access = next(c for c in set_cookies if c.startswith("mdb_shop_access="))
    refresh = next(c for c in set_cookies if c.startswith("mdb_shop_refresh="))
    assert "HttpOnly" in access
    assert "samesite=lax" in access.lower()
    assert "HttpOnly" in refresh
    assert "Path=/auth" in refresh
    assert "samesite=strict" in refresh.lower()

    assert (await client.get("/auth/me")).status_code == 200  # the access cookie
    old_refresh = client.cookies["mdb_shop_refresh"]
    rotated = await client.post("/auth/refresh")  # the refresh cookie
    assert rotated.status_code == 200
    assert client.cookies["mdb_shop_refresh"] != old_refresh

    logout = await client.post("/auth/logout")
    assert logout.status_code == 204
    assert "mdb_shop_access" not in client.cookies
    assert (await client.get("/auth/me")).status_code == 401


async def test_https_cookies_are_secure(engine: MongoDBEngine, make_app: AppFactory) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop", base_url="https://test")
    response = await client.post(
        "/auth/register", json={"email": "ada@example.com", "password": "correct horse"}
    )
    assert all("Secure" in cookie for cookie in response.headers.get_list("set-cookie"))


async def test_registration_can_be_closed(engine: MongoDBEngine, make_app: AppFactory) -> None:
    await engine.register_app(users_manifest(allow_registration=False))
    _, client = await make_app(engine, "shop")
    response = await client.post(
        "/auth/register", json={"email": "ada@example.com", "password": "correct horse"}
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "registration is closed for app 'shop'"}


async def test_duplicate_email_and_weak_password(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")
    await register(client)
    duplicate = await client.post(
        "/auth/register", json={"email": "Ada@Example.com", "password": "another one"}
    )
    assert duplicate.status_code == 409
    weak = await client.post("/auth/register", json={"email": "bob@example.com", "password": "x"})
    assert weak.status_code == 422
    assert "at least 8 characters" in weak.json()["detail"][0]["msg"]


async def test_users_live_in_the_scoped_collection_with_a_unique_email_index(
    engine: MongoDBEngine, make_app: AppFactory, mongo_client: Any, mongodb_database: str
) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")
    await register(client)

    raw = mongo_client[mongodb_database]["shop_users"]
    stored = await raw.find_one({})
    assert stored["app_id"] == "shop"
    assert stored["password_hash"].startswith("$argon2id$")
    indexes = await raw.index_information()
    assert indexes["email_unique"]["unique"] is True
    assert indexes["email_unique"]["key"] == [("email", 1)]


async def test_password_guessing_gets_429_across_two_engines(
    engine: MongoDBEngine, make_app: AppFactory, mongodb_uri: str, mongodb_database: str
) -> None:
    await engine.register_app(users_manifest())
    _, first = await make_app(engine, "shop")
    await register(first)
    guess = {"email": "ada@example.com", "password": "guess-0000"}
    async with MongoDBEngine(mongodb_uri, mongodb_database) as other:
        await other.register_app(users_manifest())
        _, second = await make_app(other, "shop")
        statuses = [(await first.post("/auth/login", json=guess)).status_code for _ in range(5)]
        statuses += [(await second.post("/auth/login", json=guess)).status_code for _ in range(5)]
        assert statuses == [401] * 10
        blocked = await second.post("/auth/login", json=guess)
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 300
        right = {"email": "ada@example.com", "password": "correct horse"}
        assert (await first.post("/auth/login", json=right)).status_code == 429
        # Another account from the same client is not locked out by the guessing.
        other_user = {"email": "bob@example.com", "password": "guess-0000"}
        assert (await first.post("/auth/login", json=other_user)).status_code == 401


async def test_the_manifests_cors_block_is_applied(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    manifest = {**users_manifest(), "cors": {"allow_origins": ["https://app.example"]}}
    await engine.register_app(manifest)
    _, client = await make_app(engine, "shop")
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = await client.options(
        "/auth/login", headers={"Origin": "https://app.example", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    refused = await client.options(
        "/auth/login", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers
