"""Access tokens: issued for one app, refused when forged, expired or for another app."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mdb_engine.auth import TokenService
from mdb_engine.errors import ConfigurationError, InvalidToken

SECRET = "a-test-secret-that-is-long-enough-32b"


def service(**options: object) -> TokenService:
    return TokenService(SECRET, **options)  # type: ignore[arg-type]


def test_round_trip_names_the_app_and_the_user() -> None:
    token = service().issue("app_a", "user-1", session_id="s1", claims={"role": "admin"})
    claims = service().verify(token, "app_a")
    assert claims["sub"] == "user-1"
    assert claims["aud"] == "app_a"
    assert claims["sid"] == "s1"
    assert claims["role"] == "admin"
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_another_app_refuses_the_token() -> None:
    token = service().issue("app_a", "user-1")
    with pytest.raises(InvalidToken, match="issued for another app"):
        service().verify(token, "app_b")


def test_expired_token() -> None:
    issued = datetime.now(timezone.utc) - timedelta(minutes=16)
    token = service().issue("app_a", "u", now=issued)
    with pytest.raises(InvalidToken, match="expired"):
        service().verify(token, "app_a")


def test_wrong_key_and_tampered_payload() -> None:
    forged = TokenService("another-secret-that-is-long-enough!").issue("app_a", "u")
    with pytest.raises(InvalidToken, match="signature is not valid"):
        service().verify(forged, "app_a")
    header, payload, signature = service().issue("app_a", "u").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="signature is not valid"):
        service().verify(f"{header}.{changed}.{signature}", "app_a")


def test_alg_none_and_other_algorithms_are_refused() -> None:
    claims = {"sub": "u", "aud": "app_a", "iss": "mdb-engine", "typ": "access", "jti": "x"}
    now = datetime.now(timezone.utc)
    claims |= {"iat": now, "exp": now + timedelta(minutes=5)}
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(InvalidToken, match="algorithm"):
        service().verify(unsigned, "app_a")
    hs512 = jwt.encode(claims, SECRET * 2, algorithm="HS512")
    with pytest.raises(InvalidToken, match="algorithm"):
        service().verify(hs512, "app_a")


def test_garbage_and_non_access_tokens() -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        service().verify("not.a.token", "app_a")
    claims = {"sub": "u", "aud": "app_a", "iss": "mdb-engine", "jti": "x", "typ": "refresh"}
    now = datetime.now(timezone.utc)
    refresh = jwt.encode(claims | {"iat": now, "exp": now + timedelta(minutes=5)}, SECRET)
    with pytest.raises(InvalidToken, match="not an access token"):
        service().verify(refresh, "app_a")


def test_engine_claims_cannot_be_overridden() -> None:
    with pytest.raises(ValueError, match=r"\['aud', 'sub'\]"):
        service().issue("app_a", "u", claims={"aud": "app_b", "sub": "root"})


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_key_pair_algorithms(algorithm: str) -> None:
    private = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
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
    tokens = TokenService(private_pem, algorithm, public_pem)  # type: ignore[arg-type]
    token = tokens.issue("app_a", "u")
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert tokens.verify(token, "app_a")["sub"] == "u"
    # A verifier holding only the public key cannot be fooled by an HS256 token signed with it.
    confused = jwt.encode({"sub": "u"}, "x" * 32, algorithm="HS256")
    with pytest.raises(InvalidToken):
        tokens.verify(confused, "app_a")


def test_bad_settings_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="need a PEM public key"):
        TokenService("private", "RS256")
    with pytest.raises(ConfigurationError, match="HS256, RS256 or ES256"):
        TokenService(SECRET, "HS384")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="positive"):
        TokenService(SECRET, access_token_ttl=timedelta(0))
