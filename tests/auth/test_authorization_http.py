"""Authorization over HTTP: the seed's route, an RBAC matrix, custom providers, two engines."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException

from mdb_engine import MongoDBEngine
from mdb_engine.auth import (
    AuthorizationProvider,
    CasbinProvider,
    get_authz_provider,
    get_current_user,
)
from mdb_engine.errors import ConfigurationError
from tests.auth.conftest import AppFactory
from tests.auth.test_auth_flow import bearer

CurrentUser = Annotated[dict[str, Any], Depends(get_current_user)]
Authz = Annotated[AuthorizationProvider, Depends(get_authz_provider)]


def rbac_manifest(**authorization: Any) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": "my_app",
        "name": "My App",
        "auth": {
            "policy": {
                "provider": "casbin",
                "required": True,
                "authorization": {
                    "model": "rbac",
                    "link_users_roles": True,
                    "default_roles": ["user"],
                    "initial_policies": [
                        ["user", "my_app", "access"],
                        ["user", "tasks", "read"],
                        ["admin", "tasks", "write"],
                    ],
                    "initial_roles": [{"user": "boss@example.com", "role": "admin"}],
                    **authorization,
                },
            },
            "users": {"enabled": True, "strategy": "app_users"},
        },
    }


def seed_routes(app: FastAPI) -> None:
    @app.get("/protected")
    async def protected_route(user: CurrentUser, authz: Authz) -> dict[str, Any]:
        # The seed's route, as written (plus refusing when there is no access).
        has_access = await authz.check(
            subject=user.get("email"), resource="my_app", action="access"
        )
        if not has_access:
            raise HTTPException(status_code=403, detail="no access")
        return {"user_id": user["user_id"]}

    @app.get("/can/{resource}/{action}")
    async def can(resource: str, action: str, user: CurrentUser, authz: Authz) -> dict[str, Any]:
        allowed = await authz.check(user["email"], resource, action, user=user)
        return {"allowed": allowed}


async def signup(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/auth/register", json={"email": email, "password": "pass-word-1"})
    assert response.status_code == 201, response.text
    client.cookies.clear()
    token: str = response.json()["access_token"]
    return token


async def test_the_seeds_protected_route(engine: MongoDBEngine, make_app: AppFactory) -> None:
    await engine.register_app(rbac_manifest())
    _, client = await make_app(engine, "my_app", configure=seed_routes)
    token = await signup(client, "ada@example.com")  # gets the default role "user"
    response = await client.get("/protected", headers=bearer(token))
    assert response.status_code == 200
    assert (await client.get("/protected")).status_code == 401


@pytest.mark.parametrize(
    ("email", "resource", "action", "allowed"),
    [
        ("ada@example.com", "tasks", "read", True),
        ("ada@example.com", "tasks", "write", False),
        ("ada@example.com", "billing", "read", False),
        ("boss@example.com", "tasks", "read", True),  # admin by initial_roles, user by default
        ("boss@example.com", "tasks", "write", True),
        ("boss@example.com", "tasks", "delete", False),
    ],
)
async def test_rbac_allow_deny_matrix(
    engine: MongoDBEngine,
    make_app: AppFactory,
    email: str,
    resource: str,
    action: str,
    allowed: bool,
) -> None:
    await engine.register_app(rbac_manifest())
    _, client = await make_app(engine, "my_app", configure=seed_routes)
    token = await signup(client, email)
    response = await client.get(f"/can/{resource}/{action}", headers=bearer(token))
    assert response.json() == {"allowed": allowed}


async def test_a_policy_added_through_engine_1_is_enforced_by_engine_2(
    engine: MongoDBEngine, make_app: AppFactory, mongodb_uri: str, mongodb_database: str
) -> None:
    await engine.register_app(rbac_manifest())
    _, first = await make_app(engine, "my_app", configure=seed_routes)
    async with MongoDBEngine(mongodb_uri, mongodb_database) as second_engine:
        await second_engine.register_app(rbac_manifest())
        _, second = await make_app(second_engine, "my_app", configure=seed_routes)
        token = await signup(first, "ada@example.com")
        url = "/can/billing/read"
        assert (await second.get(url, headers=bearer(token))).json() == {"allowed": False}

        provider = engine.get_app_auth("my_app").provider
        assert isinstance(provider, CasbinProvider)
        assert await provider.add_policy("user", "billing", "read")

        deadline = asyncio.get_running_loop().time() + 10
        while (await second.get(url, headers=bearer(token))).json() != {"allowed": True}:
            assert asyncio.get_running_loop().time() < deadline, "engine 2 never saw the policy"
            await asyncio.sleep(0.05)


async def test_a_custom_provider_on_app_state_wins(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    class OnlyAda:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str, str]] = []

        async def check(
            self,
            subject: str,
            resource: str,
            action: str,
            user: Mapping[str, Any] | None = None,
        ) -> bool:
            self.calls.append((subject, resource, action))
            return subject == "ada@example.com"

    custom = OnlyAda()
    assert isinstance(custom, AuthorizationProvider)

    def configure(app: FastAPI) -> None:
        app.state.authz_provider = custom
        seed_routes(app)

    await engine.register_app(rbac_manifest())
    _, client = await make_app(engine, "my_app", configure=configure)
    ada = await signup(client, "ada@example.com")
    bob = await signup(client, "bob@example.com")
    assert (await client.get("/can/x/y", headers=bearer(ada))).json() == {"allowed": True}
    assert (await client.get("/can/tasks/read", headers=bearer(bob))).json() == {"allowed": False}
    assert custom.calls == [("ada@example.com", "x", "y"), ("bob@example.com", "tasks", "read")]


async def test_custom_provider_declared_but_not_set_is_a_clear_error(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    manifest = rbac_manifest()
    manifest["auth"]["policy"] = {"provider": "custom", "required": True}
    await engine.register_app(manifest)
    app, _ = await make_app(engine, "my_app", configure=seed_routes)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        token = await signup(client, "ada@example.com")
        with pytest.raises(ConfigurationError, match=r"set app\.state\.authz_provider"):
            await client.get("/can/x/y", headers=bearer(token))


async def test_an_oso_policy_from_the_manifest(engine: MongoDBEngine, make_app: AppFactory) -> None:
    manifest = rbac_manifest()
    manifest["auth"]["policy"] = {
        "provider": "oso",
        "required": True,
        "authorization": {
            "polar": 'allow(actor: String, "read", "tasks") if actor = "ada@example.com";'
        },
    }
    await engine.register_app(manifest)
    _, client = await make_app(engine, "my_app", configure=seed_routes)
    ada = await signup(client, "ada@example.com")
    bob = await signup(client, "bob@example.com")
    assert (await client.get("/can/tasks/read", headers=bearer(ada))).json() == {"allowed": True}
    assert (await client.get("/can/tasks/read", headers=bearer(bob))).json() == {"allowed": False}


async def test_policies_live_where_the_manifest_says(
    engine: MongoDBEngine, make_app: AppFactory, mongo_client: Any, mongodb_database: str
) -> None:
    await engine.register_app(rbac_manifest(policies_collection="access_rules"))
    _, client = await make_app(engine, "my_app", configure=seed_routes)
    token = await signup(client, "ada@example.com")
    assert (await client.get("/can/tasks/read", headers=bearer(token))).json() == {"allowed": True}
    db = mongo_client[mongodb_database]
    stored = await db["my_app_access_rules"].find({"ptype": "p"}).to_list()
    assert {(rule["v0"], rule["v1"], rule["v2"]) for rule in stored} == {
        ("user", "my_app", "access"),
        ("user", "tasks", "read"),
        ("admin", "tasks", "write"),
    }
    assert all(rule["app_id"] == "my_app" for rule in stored)
    links = await db["my_app_access_rules"].find({"ptype": "g"}).to_list()
    assert {(rule["v0"], rule["v1"]) for rule in links} == {
        ("boss@example.com", "admin"),
        ("ada@example.com", "user"),  # link_users_roles gave the new user the default role
    }
    assert "my_app_casbin_policies" not in await db.list_collection_names()
