"""Forged, tampered, expired and ``alg=none`` tokens get 401 over HTTP; keys and secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mdb_engine import MongoDBEngine
from mdb_engine.auth import TokenService
from mdb_engine.errors import ConfigurationError
from tests.auth.conftest import AppFactory, users_manifest
from tests.auth.test_auth_flow import bearer, register


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _me(client: Any, token: str) -> tuple[int, str]:
    response = await client.get("/auth/me", headers=bearer(token))
    return response.status_code, response.json()["detail"] if response.status_code != 200 else ""


async def test_forged_tokens_are_refused(engine: MongoDBEngine, make_app: AppFactory) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")
    tokens = await register(client)
    client.cookies.clear()
    good = tokens["access_token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    header, payload, signature = good.split(".")

    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    tampered = f"{header}.{_b64({**claims, 'sub': 'someone-else'})}.{signature}"
    wrong_key = jwt.encode(claims, "another-secret-of-enough-length-0123456789", "HS256")
    expired = jwt.encode(
        {**claims, "exp": datetime.now(timezone.utc) - timedelta(seconds=1)},
        "test-secret-key-0123456789-abcdefghijklmnop",
        "HS256",
    )
    other_audience = jwt.encode(
        {**claims, "aud": "blog"}, "test-secret-key-0123456789-abcdefghijklmnop", "HS256"
    )

    assert await _me(client, good) == (200, "")
    assert await _me(client, unsigned) == (
        401,
        "the token is signed with an algorithm this app does not accept",
    )
    assert await _me(client, tampered) == (401, "the token's signature is not valid")
    assert await _me(client, wrong_key) == (401, "the token's signature is not valid")
    assert await _me(client, expired) == (401, "the token has expired")
    assert await _me(client, other_audience) == (401, "the token was issued for another app")
    assert await _me(client, "not-a-jwt") == (401, "the token is malformed")
    assert await _me(client, tokens["refresh_token"]) == (401, "the token is malformed")


async def test_no_token_is_401_with_a_bearer_challenge(
    engine: MongoDBEngine, make_app: AppFactory
) -> None:
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")
    response = await client.get("/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "none is set"), ("short", "bytes long")],
)
async def test_a_missing_or_short_secret_is_a_start_up_error(
    engine: MongoDBEngine, monkeypatch: pytest.MonkeyPatch, value: str | None, message: str
) -> None:
    monkeypatch.delenv("MDB_ENGINE_SECRET_KEY")
    if value is not None:
        monkeypatch.setenv("FLASK_SECRET_KEY", value)
    with pytest.raises(ConfigurationError, match=message) as caught:
        await engine.register_app(users_manifest())
    assert "app 'shop' uses auth" in str(caught.value)
    assert "secrets.token_urlsafe(32)" in str(caught.value)


async def test_the_seeds_flask_secret_key_is_accepted(
    engine: MongoDBEngine, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MDB_ENGINE_SECRET_KEY")
    monkeypatch.setenv("FLASK_SECRET_KEY", "flask-secret-0123456789-0123456789-abc")
    await engine.register_app(users_manifest())
    _, client = await make_app(engine, "shop")
    tokens = await register(client)
    jwt.decode(
        tokens["access_token"],
        "flask-secret-0123456789-0123456789-abc",
        algorithms=["HS256"],
        audience="shop",
    )


async def test_es256_keys_as_an_option(
    mongodb_uri: str, mongodb_database: str, make_app: AppFactory
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    service = TokenService(private_pem, algorithm="ES256", verification_key=public_pem)
    async with MongoDBEngine(mongodb_uri, mongodb_database, token_service=service) as engine:
        await engine.register_app(users_manifest())
        _, client = await make_app(engine, "shop")
        tokens = await register(client)
        client.cookies.clear()
        assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "ES256"
        assert await _me(client, tokens["access_token"]) == (200, "")
        # Key confusion: an HS256 token "signed" with the public key is not accepted.
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
        mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
        confused = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        assert await _me(client, confused) == (
            401,
            "the token is signed with an algorithm this app does not accept",
        )
