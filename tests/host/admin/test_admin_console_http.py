"""The admin console over HTTP: login, pages, CSRF, sessions shared by workers, logout."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine
from mdb_engine.auth.rate_limit import RateLimiter
from tests.host.admin.conftest import (
    ADMIN_EMAIL,
    Console,
    csrf_token_in,
    log_in,
    populate,
    shop_manifest,
)


def set_cookie_headers(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


async def test_every_page_but_login_redirects_to_the_login_page(
    engine: MongoDBEngine, console: Console
) -> None:
    client = await console(engine)
    for path in ("/admin/", "/admin/apps/shop"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/login"
    assert (await client.get("/admin")).status_code in (307, 308)  # to /admin/
    login = await client.get("/admin/login")
    assert login.status_code == 200
    assert "Log in" in login.text


async def test_login_sets_a_strict_http_only_cookie_and_stores_only_its_hash(
    engine: MongoDBEngine,
    console: Console,
    mongo_client: AsyncMongoClient[Any],
    mongodb_database: str,
) -> None:
    await populate(engine)
    client = await console(engine)
    wrong = await log_in(client, password="not the password at all")
    assert wrong.status_code == 401
    assert "Wrong email or password." in wrong.text
    assert "mdb_admin_session" not in client.cookies

    response = await log_in(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/"
    session_cookie = next(h for h in set_cookie_headers(response) if "mdb_admin_session=" in h)
    assert "HttpOnly" in session_cookie
    assert "SameSite=strict" in session_cookie or "SameSite=Strict" in session_cookie
    assert "Path=/admin" in session_cookie
    token = client.cookies["mdb_admin_session"]
    stored = await mongo_client[mongodb_database]["_mdb_engine_admin_sessions"].find().to_list()
    assert [document["_id"] for document in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in repr(stored)
    assert stored[0]["email"] == ADMIN_EMAIL
    page = await client.get("/admin/")
    assert page.status_code == 200
    assert ADMIN_EMAIL in page.text


async def test_the_login_form_needs_its_csrf_token(engine: MongoDBEngine, console: Console) -> None:
    await populate(engine)
    client = await console(engine)
    await client.get("/admin/login")  # the pre-session cookie is set
    response = await client.post(
        "/admin/login", data={"email": ADMIN_EMAIL, "password": "correct horse battery staple"}
    )
    assert response.status_code == 403
    assert "security token" in response.text
    forged = await client.post(
        "/admin/login",
        data={"csrf_token": "x" * 43, "email": ADMIN_EMAIL, "password": "whatever-whatever"},
    )
    assert forged.status_code == 403
    assert "mdb_admin_session" not in client.cookies


async def test_the_apps_page_lists_apps_their_status_failed_loads_and_health(
    engine: MongoDBEngine, console: Console
) -> None:
    await populate(engine)
    client = await console(engine)
    await log_in(client)
    page = (await client.get("/admin/")).text
    for slug in ("shop", "blog", "later"):
        assert f'href="/admin/apps/{slug}"' in page
    assert "draft" in page
    assert "active" in page
    assert "broken_folder" in page
    assert "failed" in page
    assert "&lt;b&gt;not a slug&lt;/b&gt;" in page  # the load error is escaped
    assert "ready" in page  # health
    assert "MongoDB reachable" in page


async def test_the_app_page_shows_counts_plan_users_roles_errors_metrics_and_health(
    engine: MongoDBEngine, console: Console
) -> None:
    await populate(engine)
    client = await console(engine)
    await log_in(client)
    response = await client.get("/admin/apps/shop")
    assert response.status_code == 200
    page = response.text
    collections = _section(page, "collections")
    assert re.search(r"<td>products</td>\s*<td class=\"num\">3</td>", collections)
    assert re.search(r"<td>orders</td>\s*<td class=\"num\">1</td>", collections)
    assert re.search(r"<td>users</td>\s*<td class=\"num\">2</td>", collections)
    assert "posts" not in collections  # the blog's collection
    plan = _section(page, "indexes")
    assert "sku_idx" in plan
    assert "out of sync" in plan
    assert "{&#34;key&#34;: {&#34;sku&#34;: 1}}" in plan  # declared, escaped JSON
    users = _section(page, "users")
    assert "alice@example.com" in users
    assert "bob@example.com" in users
    assert "editor" in users  # alice's Casbin role
    assert "CasbinProvider" in users
    assert "password_hash" not in page
    assert "$argon2" not in page
    errors = _section(page, "errors")
    assert "payment failed" in errors
    assert "hunter2" not in page  # redacted before it was stored
    assert "shop.checkout" in errors
    metrics = _section(page, "metrics")
    assert re.search(r"<td>products</td><td>insert_many</td><td class=\"num\">1</td>", metrics)
    assert "mdb_engine_auth_events_total" in metrics
    assert "event=login" in metrics
    assert "ready" in _section(page, "health")
    # Every value from the apps is escaped: the user's name and the product's sku.
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in page


async def test_an_app_without_auth_and_an_inactive_app(
    engine: MongoDBEngine, console: Console
) -> None:
    await populate(engine)
    client = await console(engine)
    await log_in(client)
    blog = (await client.get("/admin/apps/blog")).text
    assert "No auth" in _section(blog, "users")
    assert re.search(r"<td>posts</td>\s*<td class=\"num\">1</td>", blog)
    later = await client.get("/admin/apps/later")
    assert later.status_code == 200
    assert "serves no data" in later.text
    missing = await client.get("/admin/apps/nope")
    assert missing.status_code == 404
    assert "No app &#39;nope&#39;" in missing.text


async def test_sync_needs_the_session_csrf_token_then_creates_the_index(
    engine: MongoDBEngine,
    console: Console,
    mongo_client: AsyncMongoClient[Any],
    mongodb_database: str,
) -> None:
    await populate(engine)
    client = await console(engine)
    await log_in(client)
    page = await client.get("/admin/apps/shop")
    products = mongo_client[mongodb_database]["shop_products"]

    for data in ({}, {"csrf_token": "A" * 64}, {"csrf_token": "short"}):
        refused = await client.post("/admin/apps/shop/sync-indexes", data=data)
        assert refused.status_code == 403
        assert "security token" in refused.text
    assert "sku_idx" not in await products.index_information()

    synced = await client.post(
        "/admin/apps/shop/sync-indexes", data={"csrf_token": csrf_token_in(page.text)}
    )
    assert synced.status_code == 303
    assert synced.headers["location"] == "/admin/apps/shop?synced=1"
    assert "sku_idx" in await products.index_information()
    after = (await client.get(synced.headers["location"])).text
    assert "Indexes synced." in after
    assert "in sync" in _section(after, "indexes")
    assert "present" in _section(after, "indexes")


async def test_a_conflicting_index_is_reported_not_rebuilt(
    engine: MongoDBEngine,
    console: Console,
    mongo_client: AsyncMongoClient[Any],
    mongodb_database: str,
) -> None:
    await populate(engine)
    products = mongo_client[mongodb_database]["shop_products"]
    await products.create_index([("sku", 1)], name="sku_idx", unique=True)
    client = await console(engine)
    await log_in(client)
    page = await client.get("/admin/apps/shop")
    assert "conflict" in _section(page.text, "indexes")
    response = await client.post(
        "/admin/apps/shop/sync-indexes", data={"csrf_token": csrf_token_in(page.text)}
    )
    assert response.status_code == 409
    assert "sku_idx" in response.text
    assert (await products.index_information())["sku_idx"].get("unique") is True


async def test_logout_revokes_the_session_everywhere(
    engine: MongoDBEngine, console: Console
) -> None:
    await populate(engine)
    client = await console(engine)
    await log_in(client)
    token = client.cookies["mdb_admin_session"]
    page = await client.get("/admin/")
    refused = await client.post("/admin/logout", data={})
    assert refused.status_code == 403
    response = await client.post("/admin/logout", data={"csrf_token": csrf_token_in(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"
    assert (await client.get("/admin/")).status_code == 303
    # The old cookie, replayed, is no longer a session.
    replay = await console(engine)
    replay.cookies.set("mdb_admin_session", token, path="/admin")
    assert (await replay.get("/admin/")).status_code == 303


async def test_two_workers_share_sessions(
    engine: MongoDBEngine, console: Console, mongodb_uri: str, mongodb_database: str
) -> None:
    await populate(engine)
    first = await console(engine)
    await log_in(first)
    async with MongoDBEngine(mongodb_uri, mongodb_database) as other_worker:
        await other_worker.register_app(shop_manifest(), create_indexes=False)
        second = await console(other_worker)
        second.cookies.set("mdb_admin_session", first.cookies["mdb_admin_session"], path="/admin")
        page = await second.get("/admin/apps/shop")
        assert page.status_code == 200
        assert "alice@example.com" in page.text
        await second.post("/admin/logout", data={"csrf_token": csrf_token_in(page.text)})
    assert (await first.get("/admin/")).status_code == 303  # logged out in the other worker


async def test_login_attempts_are_rate_limited(engine: MongoDBEngine, console: Console) -> None:
    await populate(engine)
    client = await console(engine, login_limiter=RateLimiter(3, 300))
    for _ in range(3):
        assert (await log_in(client, password="wrong-password-here")).status_code == 401
    limited = await log_in(client)  # even the right password, once over the limit
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Too many attempts" in limited.text
    assert "mdb_admin_session" not in client.cookies


async def test_links_and_cookies_follow_the_mount_path(
    engine: MongoDBEngine, console: Console
) -> None:
    await populate(engine)
    client = await console(engine, prefix="/ops/console")
    assert (await client.get("/ops/console/")).headers["location"] == "/ops/console/login"
    response = await log_in(client, prefix="/ops/console")
    assert response.headers["location"] == "/ops/console/"
    assert any("Path=/ops/console" in h for h in set_cookie_headers(response))
    page = (await client.get("/ops/console/")).text
    assert 'href="/ops/console/apps/shop"' in page
    assert 'href="/ops/console/static/admin.css"' in page
    assert 'action="/ops/console/logout"' in page
    assert '"/admin/' not in page
    css = await client.get("/ops/console/static/admin.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


async def test_pages_carry_security_headers(engine: MongoDBEngine, console: Console) -> None:
    client = await console(engine)
    response = await client.get("/admin/login")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    not_found = await client.get("/admin/no/such/page")
    assert not_found.status_code == 404
    assert "Error 404" in not_found.text


def _section(page: str, section_id: str) -> str:
    match = re.search(rf'<section class="card" id="{section_id}">(.*?)</section>', page, re.S)
    assert match is not None, f"no section {section_id!r} in the page"
    return match.group(1)


async def test_odd_requests_get_plain_answers(engine: MongoDBEngine, console: Console) -> None:
    await populate(engine)
    client = await console(engine)
    await log_in(client)
    again = await client.get("/admin/login")  # already logged in
    assert again.status_code == 303
    assert again.headers["location"] == "/admin/"
    page = await client.get("/admin/apps/shop")
    token = csrf_token_in(page.text)
    missing = await client.post("/admin/apps/nope/sync-indexes", data={"csrf_token": token})
    assert missing.status_code == 404
    huge = await client.post(
        "/admin/apps/shop/sync-indexes", data={"csrf_token": token, "padding": "x" * 20_000}
    )
    assert huge.status_code == 413
    assert (await client.get("/admin/logout")).status_code == 405
