"""Who may open an app's WebSocket endpoint, decided once, before any app message.

The access token comes, in this order, from the ``Authorization: Bearer`` header, the app's
access cookie, a ``bearer.<token>`` subprotocol (browsers cannot set headers on a WebSocket:
offer ``["mdb-engine", "bearer.<token>"]`` and the server picks ``mdb-engine``), or a
``token`` query parameter (masked in uvicorn's log lines by the engine's ``RedactingFilter``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from mdb_engine.auth.transport import access_token_from
from mdb_engine.core.manifest import AppManifest
from mdb_engine.core.manifest.models import WebSocketEndpoint
from mdb_engine.errors import InvalidToken

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = [
    "BEARER_SUBPROTOCOL_PREFIX",
    "SUBPROTOCOL",
    "WebSocketAdmission",
    "admit",
]

SUBPROTOCOL = "mdb-engine"
BEARER_SUBPROTOCOL_PREFIX = "bearer."


@dataclass(frozen=True)
class WebSocketAdmission:
    """The outcome: the user (``None`` for an anonymous client) or why the client is refused,
    and the subprotocol to accept with."""

    user: dict[str, Any] | None
    refusal: str | None
    subprotocol: str | None


def endpoint_policy(manifest: AppManifest, endpoint: WebSocketEndpoint) -> tuple[bool, bool]:
    """``(required, allow_anonymous)``: the endpoint's ``auth`` block, else the app's policy."""
    if endpoint.auth is not None:
        required = endpoint.auth.required
        return required, endpoint.auth.allow_anonymous or not required
    policy = manifest.auth.policy if manifest.auth else None
    if policy is None:
        return False, True
    return policy.required, policy.allow_anonymous and not policy.required


async def admit(
    engine: MongoDBEngine, websocket: WebSocket, manifest: AppManifest, endpoint: WebSocketEndpoint
) -> WebSocketAdmission:
    """Authenticate a connecting client as the endpoint's manifest says."""
    slug = manifest.slug
    offered = websocket.scope.get("subprotocols") or []
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    token = access_token_from(websocket, slug) or _subprotocol_token(offered)
    token = (
        token or websocket.query_params.get("token") or websocket.query_params.get("access_token")
    )
    _, allow_anonymous = endpoint_policy(manifest, endpoint)
    if token is None:
        if allow_anonymous:
            return WebSocketAdmission(None, None, subprotocol)
        return WebSocketAdmission(None, "authentication required", subprotocol)
    app_auth = engine.get_app_auth(slug)
    if app_auth is None:
        return WebSocketAdmission(None, "this app has no auth to check the token", subprotocol)
    try:
        user = await app_auth.authenticate(token)
    except InvalidToken as exc:
        return WebSocketAdmission(None, str(exc), subprotocol)
    return WebSocketAdmission(user, None, subprotocol)


def _subprotocol_token(offered: list[str]) -> str | None:
    for protocol in offered:
        if protocol.startswith(BEARER_SUBPROTOCOL_PREFIX):
            return protocol[len(BEARER_SUBPROTOCOL_PREFIX) :] or None
    return None
