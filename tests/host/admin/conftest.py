"""The admin console's test apps, an admin account, and the console mounted in a host app."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher

from mdb_engine import MongoDBEngine
from mdb_engine.auth import passwords
from mdb_engine.host.admin import AdminAccounts, create_admin_app
from mdb_engine.observability import app_context

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
XSS = "<script>alert('xss')</script>"
LOAD_ERRORS = {"broken_folder": "invalid manifest: $.slug: <b>not a slug</b>"}

Console = Callable[..., Awaitable[httpx.AsyncClient]]


@contextmanager
def cheap_argon2() -> Iterator[None]:
    """Argon2 at its lowest cost while engines are made: these tests are about the console,
    and a third of a second per hash would make them slow (hashing is tested in tests/auth)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            passwords,
            "Argon2Hasher",
            functools.partial(Argon2Hasher, time_cost=1, memory_cost=64, parallelism=1),
        )
        yield


@pytest.fixture(autouse=True)
def _cheap_argon2() -> Iterator[None]:
    with cheap_argon2():
        yield


def shop_manifest() -> dict[str, Any]:
    """An app with users, Casbin roles and a declared index (not created at registration)."""
    return {
        "schema_version": "2.0",
        "slug": "shop",
        "name": "Shop",
        "description": "Sells things",
        "managed_indexes": {"products": [{"keys": {"sku": 1}, "name": "sku_idx"}]},
        "auth": {
            "policy": {
                "provider": "casbin",
                "authorization": {
                    "model": "rbac",
                    "initial_policies": [["editor", "products", "write"]],
                    "initial_roles": [{"user": "alice@example.com", "role": "editor"}],
                },
            },
            "users": {"enabled": True, "strategy": "app_users"},
        },
    }


BLOG = {"schema_version": "2.0", "slug": "blog", "name": "Blog"}
DRAFT = {"schema_version": "2.0", "slug": "later", "name": "Later", "status": "draft"}


async def populate(engine: MongoDBEngine) -> None:
    """Register the test apps, give them data, users, an error, and create the admin."""
    await engine.register_app(shop_manifest(), create_indexes=False)
    await engine.register_app(BLOG)
    await engine.register_app(DRAFT)
    shop = engine.get_scoped_db("shop")
    await shop.products.insert_many([{"sku": "a-1"}, {"sku": "b-2"}, {"sku": XSS}])
    await shop.orders.insert_one({"total": 12})
    await engine.get_scoped_db("blog").posts.insert_one({"title": "hello"})
    auth = engine.get_app_auth("shop")
    assert auth is not None
    assert auth.users is not None
    await auth.users.create("alice@example.com", "alice-password-1", name=XSS)
    await auth.users.create("bob@example.com", "bob-password-12", name="Bob")
    assert await auth.login("bob@example.com", "bob-password-12") is not None  # an auth event
    with app_context("shop"):
        logging.getLogger("shop.checkout").error("payment failed: password=hunter2 %s", XSS)
    await engine.error_log.flush()
    await AdminAccounts(engine).create(ADMIN_EMAIL, ADMIN_PASSWORD)


def admin_host(engine: MongoDBEngine, prefix: str = "/admin", **options: Any) -> FastAPI:
    """A host app with the console mounted at ``prefix``."""
    host = FastAPI()
    options.setdefault("load_errors", lambda: LOAD_ERRORS)
    host.mount(prefix, create_admin_app(engine, **options))
    return host


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    """``await console(engine, prefix="/admin", **options)``: a client of a mounted console."""
    clients: list[httpx.AsyncClient] = []

    async def start(engine: MongoDBEngine, prefix: str = "/admin", **options: Any) -> Any:
        transport = httpx.ASGITransport(app=admin_host(engine, prefix, **options))
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()


def csrf_token_in(html: str) -> str:
    """The first CSRF token of a page's forms."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, html
    return match.group(1)


async def log_in(
    client: httpx.AsyncClient,
    prefix: str = "/admin",
    email: str = ADMIN_EMAIL,
    password: str = ADMIN_PASSWORD,
) -> httpx.Response:
    """Fill in the login form as a browser would."""
    page = await client.get(f"{prefix}/login")
    return await client.post(
        f"{prefix}/login",
        data={"csrf_token": csrf_token_in(page.text), "email": email, "password": password},
    )
