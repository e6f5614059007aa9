"""Admin accounts and admin sessions, in the engine's own collections."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine
from mdb_engine.auth.users import WeakPassword
from mdb_engine.host.admin import AdminAccountExists, AdminAccounts, AdminSessions
from mdb_engine.host.admin.sessions import csrf_token_for

PASSWORD = "a long enough password"


async def test_an_account_is_stored_with_an_argon2_hash_and_a_unique_email(
    engine: MongoDBEngine, mongo_client: AsyncMongoClient[Any], mongodb_database: str
) -> None:
    accounts = AdminAccounts(engine)
    account = await accounts.create("  Root@Example.com ", PASSWORD)
    assert account.email == "root@example.com"
    with pytest.raises(AdminAccountExists, match="already exists"):
        await accounts.create("ROOT@example.com", "another long password")
    collection = mongo_client[mongodb_database]["_mdb_engine_admins"]
    (stored,) = await collection.find().to_list()
    assert stored["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in repr(stored)
    indexes = await collection.index_information()
    assert indexes["email_unique"]["unique"] is True
    # A second accounts object (another process) finds the index in place and builds nothing.
    await AdminAccounts(engine).list_accounts()


async def test_weak_passwords_and_bad_emails_are_refused(engine: MongoDBEngine) -> None:
    accounts = AdminAccounts(engine)
    with pytest.raises(WeakPassword, match="at least 12"):
        await accounts.create("root@example.com", "short")
    with pytest.raises(WeakPassword, match="at most"):
        await accounts.create("root@example.com", "x" * 2000)
    with pytest.raises(ValueError, match="not an email"):
        await accounts.create("root", PASSWORD)
    assert await accounts.list_accounts() == []


async def test_authenticate_list_and_delete(engine: MongoDBEngine) -> None:
    accounts = AdminAccounts(engine)
    await accounts.create("b@example.com", PASSWORD)
    await accounts.create("a@example.com", PASSWORD)
    assert (await accounts.authenticate("A@example.com", PASSWORD)) is not None
    assert await accounts.authenticate("a@example.com", "wrong password!") is None
    assert await accounts.authenticate("nobody@example.com", PASSWORD) is None
    assert await accounts.authenticate("a@example.com", "x" * 5000) is None
    assert [account.email for account in await accounts.list_accounts()] == [
        "a@example.com",
        "b@example.com",
    ]
    assert await accounts.delete("a@example.com") is True
    assert await accounts.delete("a@example.com") is False
    assert await accounts.authenticate("a@example.com", PASSWORD) is None


async def test_sessions_are_found_by_token_hash_and_revoked(
    engine: MongoDBEngine, mongo_client: AsyncMongoClient[Any], mongodb_database: str
) -> None:
    sessions = AdminSessions(engine)
    token, session = await sessions.start("Root@example.com")
    assert session.email == "root@example.com"
    assert session.csrf_token == csrf_token_for(token)
    assert session.csrf_token != token
    found = await sessions.get(token)
    assert found is not None
    assert found.email == "root@example.com"
    assert found.csrf_token == session.csrf_token
    stored = await mongo_client[mongodb_database]["_mdb_engine_admin_sessions"].find().to_list()
    assert stored[0]["_id"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(stored)
    for bad in (None, "", "nope", token + "x", "t" * 500):
        assert await sessions.get(bad) is None
    assert await sessions.revoke(token) is True
    assert await sessions.get(token) is None
    assert await sessions.revoke(token) is False


async def test_expired_sessions_and_revoking_all_of_one_admin(engine: MongoDBEngine) -> None:
    expired, _ = await AdminSessions(engine, lifetime=timedelta(seconds=-1)).start("a@x.io")
    sessions = AdminSessions(engine)
    assert await sessions.get(expired) is None  # before the TTL monitor deletes it
    first, _ = await sessions.start("a@x.io")
    second, _ = await sessions.start("A@x.io")
    other, _ = await sessions.start("b@x.io")
    assert await sessions.revoke_all("a@x.io") == 3
    assert await sessions.get(first) is None
    assert await sessions.get(second) is None
    assert await sessions.get(other) is not None
