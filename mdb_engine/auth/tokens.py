"""Short-lived access tokens (JWT): issued for one app, refused by every other.

HS256 with the engine's secret by default; RS256 or ES256 with a key pair as an option. A
token carries its app as the audience, so app B refuses app A's token; ``alg=none``, a wrong
key, an expired token or a wrong audience raise :class:`InvalidToken`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import jwt

from mdb_engine.errors import ConfigurationError, InvalidToken

__all__ = ["ACCESS_TOKEN_TYPE", "Algorithm", "TokenService"]

Algorithm = Literal["HS256", "RS256", "ES256"]
ACCESS_TOKEN_TYPE = "access"
_RESERVED_CLAIMS = frozenset({"sub", "aud", "iss", "iat", "nbf", "exp", "jti", "typ", "sid"})
_REQUIRED_CLAIMS = ["sub", "aud", "iss", "iat", "exp", "jti"]
# Why a token was refused, without echoing anything from the token.
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.InvalidAudienceError, "the token was issued for another app"),
    (jwt.InvalidIssuerError, "the token was issued by someone else"),
    (jwt.InvalidSignatureError, "the token's signature is not valid"),
    (jwt.InvalidAlgorithmError, "the token is signed with an algorithm this app does not accept"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.DecodeError, "the token is malformed"),
)


@dataclass(frozen=True)
class TokenService:
    """Issues and checks access tokens.

    ``signing_key`` is the secret (HS256) or a PEM private key (RS256/ES256);
    ``verification_key`` is the PEM public key for those (the secret again for HS256).
    """

    signing_key: str
    algorithm: Algorithm = "HS256"
    verification_key: str | None = None
    access_token_ttl: timedelta = timedelta(minutes=15)
    issuer: str = "mdb-engine"

    def __post_init__(self) -> None:
        if self.algorithm not in ("HS256", "RS256", "ES256"):
            raise ConfigurationError(
                f"token algorithm must be HS256, RS256 or ES256, not {self.algorithm!r}"
            )
        if self.algorithm != "HS256" and not self.verification_key:
            raise ConfigurationError(
                f"{self.algorithm} tokens need a PEM public key (verification_key) as well as "
                "the private key"
            )
        if self.access_token_ttl <= timedelta(0):
            raise ConfigurationError("access_token_ttl must be positive")

    def issue(
        self,
        app: str,
        subject: str,
        *,
        session_id: str | None = None,
        claims: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> str:
        """An access token for ``subject`` (a user id) in app ``app``."""
        extra = dict(claims or {})
        clashing = sorted(_RESERVED_CLAIMS & set(extra))
        if clashing:
            raise ValueError(f"claims {clashing} are set by the engine and cannot be given")
        issued = now or datetime.now(timezone.utc)
        payload: dict[str, Any] = {
            **extra,
            "sub": subject,
            "aud": app,
            "iss": self.issuer,
            "iat": issued,
            "exp": issued + self.access_token_ttl,
            "jti": uuid.uuid4().hex,
            "typ": ACCESS_TOKEN_TYPE,
        }
        if session_id is not None:
            payload["sid"] = session_id
        return jwt.encode(payload, self.signing_key, algorithm=self.algorithm)

    def verify(self, token: str, app: str) -> dict[str, Any]:
        """The claims of a valid access token for ``app``; :class:`InvalidToken` otherwise."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.verification_key or self.signing_key,
                algorithms=[self.algorithm],  # never "none", never another family
                audience=app,
                issuer=self.issuer,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason(exc)) from None
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("the token is not an access token")
        return claims


def _reason(error: jwt.PyJWTError) -> str:
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return "the token is not valid"
