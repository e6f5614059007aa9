"""No password, password hash or token ever appears in the engine's logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine
from tests.auth.conftest import SECRET, AppFactory, users_manifest
from tests.auth.test_auth_flow import bearer

PASSWORD = "correct horse battery"
DEMO_PASSWORD = "demo-password-1234"


def _log_text(records: list[logging.LogRecord]) -> str:
    lines = []
    for record in records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


async def test_the_whole_auth_flow_logs_no_secret(
    engine: MongoDBEngine,
    make_app: AppFactory,
    caplog: pytest.LogCaptureFixture,
    mongo_client: AsyncMongoClient[Any],
    mongodb_database: str,
) -> None:
    manifest = users_manifest(demo_users=[{"email": "demo@example.com", "password": DEMO_PASSWORD}])
    seen: list[str] = [PASSWORD, DEMO_PASSWORD, SECRET]
    # The engine's own loggers at DEBUG, everything else (driver, ASGI) at INFO.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="mdb_engine")
    await engine.register_app(manifest)
    _, client = await make_app(engine, "shop")

    registered = await client.post(
        "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    tokens = registered.json()
    seen += [tokens["access_token"], tokens["refresh_token"]]
    client.cookies.clear()
    await client.post("/auth/login", json={"email": "ada@example.com", "password": "wrong pass"})
    await client.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    demo = (
        await client.post(
            "/auth/login", json={"email": "demo@example.com", "password": DEMO_PASSWORD}
        )
    ).json()
    seen += [demo["access_token"], demo["refresh_token"]]
    rotated = (await client.post("/auth/refresh", json=tokens)).json()
    seen += [rotated["access_token"], rotated["refresh_token"]]
    client.cookies.clear()
    await client.post("/auth/refresh", json=tokens)  # reuse: revokes the family, logs a warning
    await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    await client.post("/auth/logout", headers=bearer(demo["access_token"]))
    await client.get("/auth/me", headers=bearer("forged." + tokens["access_token"]))

    users = mongo_client[mongodb_database]["shop_users"]
    seen += [user["password_hash"] async for user in users.find({})]
    text = _log_text(caplog.records)
    assert any("used again" in record.getMessage() for record in caplog.records)  # logs were taken
    assert any(record.name.startswith("mdb_engine.auth") for record in caplog.records)
    leaked = [value[:12] + "…" for value in seen if value in text]
    assert leaked == []
    # The refresh secrets themselves, without their session-id prefix, do not appear either.
    assert not [v for v in seen if "." in v and v.split(".", 1)[1] in text]
