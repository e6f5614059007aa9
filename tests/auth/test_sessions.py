"""The session store on the real mongod: rotation, expiry, revocation, what is stored."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine
from mdb_engine.auth import SessionStore
from mdb_engine.errors import ConfigurationError, InvalidToken


@pytest.fixture
def store(engine: MongoDBEngine) -> SessionStore:
    async def collection() -> Any:
        return await engine.system_collection("sessions", ttl_field="expires_at")

    return SessionStore(collection, refresh_token_ttl=timedelta(hours=1))


async def test_only_a_digest_of_the_refresh_secret_is_stored(
    store: SessionStore, mongo_client: AsyncMongoClient[Any], mongodb_database: str
) -> None:
    issued = await store.start("shop", "u1", claims={"email": "a@example.com"})
    session_id, secret = issued.refresh_token.split(".")
    stored = await mongo_client[mongodb_database]["_mdb_engine_sessions"].find_one(
        {"_id": session_id}
    )
    assert stored["current"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(stored)
    assert stored["claims"] == {"email": "a@example.com"}
    indexes = await mongo_client[mongodb_database]["_mdb_engine_sessions"].index_information()
    assert indexes["expires_at_ttl"]["expireAfterSeconds"] == 0


async def test_rotation_slides_the_expiry(store: SessionStore) -> None:
    now = datetime.now(timezone.utc)
    issued = await store.start("shop", "u1", now=now)
    later = now + timedelta(minutes=30)
    rotated, session = await store.rotate("shop", issued.refresh_token, now=later)
    assert rotated.expires_at == later + timedelta(hours=1)
    assert session["user_id"] == "u1"
    assert await store.is_active("shop", issued.session_id, now=later + timedelta(minutes=45))


async def test_an_expired_session_cannot_be_refreshed(store: SessionStore) -> None:
    now = datetime.now(timezone.utc)
    issued = await store.start("shop", "u1", now=now)
    with pytest.raises(InvalidToken, match="the session has expired"):
        await store.rotate("shop", issued.refresh_token, now=now + timedelta(hours=2))
    assert not await store.is_active("shop", issued.session_id, now=now + timedelta(hours=2))


@pytest.mark.parametrize("token", ["", "no-dot", ".secret", "id.", "x" * 300 + ".y"])
async def test_malformed_refresh_tokens(store: SessionStore, token: str) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        await store.rotate("shop", token)


async def test_unknown_and_foreign_refresh_tokens(store: SessionStore) -> None:
    issued = await store.start("shop", "u1")
    with pytest.raises(InvalidToken, match="not valid"):
        await store.rotate("blog", issued.refresh_token)  # another app's
    with pytest.raises(InvalidToken, match="not valid"):
        await store.rotate("shop", issued.session_id + ".guessed-secret")
    # A wrong guess does not revoke the session: only a rotated token's reuse does.
    await store.rotate("shop", issued.refresh_token)


async def test_revoking_by_refresh_token_and_by_user(store: SessionStore) -> None:
    first = await store.start("shop", "u1")
    second = await store.start("shop", "u1")
    other = await store.start("shop", "u2")
    assert await store.revoke_refresh_token("shop", first.refresh_token)
    assert not await store.revoke_refresh_token("shop", first.refresh_token)
    with pytest.raises(InvalidToken, match="revoked"):
        await store.rotate("shop", first.refresh_token)
    assert await store.revoke_user("shop", "u1") == 1
    assert not await store.is_active("shop", second.session_id)
    assert await store.is_active("shop", other.session_id)
    assert not await store.revoke("blog", other.session_id)  # not that app's session


async def test_the_lifetime_must_be_positive() -> None:
    async def nowhere() -> Any:
        raise AssertionError("never called")

    with pytest.raises(ConfigurationError, match="refresh_token_ttl must be positive"):
        SessionStore(nowhere, refresh_token_ttl=timedelta(0))
