"""``setup_auth_from_manifest`` refuses what it cannot wire, with a message that says why."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from mdb_engine import MongoDBEngine
from mdb_engine.auth import attach_engine, setup_auth_from_manifest
from mdb_engine.errors import AppNotRegistered, ConfigurationError
from tests.auth.conftest import users_manifest


async def test_an_unregistered_app(engine: MongoDBEngine) -> None:
    with pytest.raises(AppNotRegistered, match="register_app"):
        await setup_auth_from_manifest(FastAPI(), engine, "shop")


async def test_an_app_without_an_auth_block(engine: MongoDBEngine) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "plain", "name": "Plain"})
    with pytest.raises(ConfigurationError, match="declares no 'auth' block"):
        await setup_auth_from_manifest(FastAPI(), engine, "plain")


async def test_one_fastapi_app_serves_one_engine_app(engine: MongoDBEngine) -> None:
    await engine.register_app(users_manifest("shop"))
    await engine.register_app(users_manifest("blog"))
    app = FastAPI()
    await setup_auth_from_manifest(app, engine, "shop")
    mounted = len(app.routes)
    await setup_auth_from_manifest(app, engine, "shop")  # again: fine, routes mounted once
    assert len(app.routes) == mounted
    with pytest.raises(ConfigurationError, match="already serves the auth of app 'shop'"):
        await setup_auth_from_manifest(app, engine, "blog")


async def test_one_fastapi_app_serves_one_engine(
    engine: MongoDBEngine, mongodb_uri: str, mongodb_database: str
) -> None:
    app = FastAPI()
    attach_engine(app, engine)
    with pytest.raises(ConfigurationError, match="already attached to another MongoDBEngine"):
        attach_engine(app, MongoDBEngine(mongodb_uri, mongodb_database))


async def test_unregistering_closes_the_apps_provider(engine: MongoDBEngine) -> None:
    manifest = users_manifest()
    manifest["auth"]["policy"] = {"provider": "casbin"}
    await engine.register_app(manifest)
    assert engine.get_app_auth("shop") is not None
    await engine.unregister_app("shop")
    assert engine.get_app_auth("shop") is None
