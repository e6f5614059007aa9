"""Liveness and readiness: can this process serve, and can it reach MongoDB right now?"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pymongo
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import PyMongoError

__all__ = ["READY_TIMEOUT_SECONDS", "check_readiness"]

READY_TIMEOUT_SECONDS = 2.0


async def check_readiness(
    client: AsyncMongoClient[Mapping[str, Any]] | None,
    apps: Sequence[str],
    *,
    timeout: float = READY_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """``{"status": "ready" | "unavailable", "database": {...}, "replica_set": {...}, "apps"}``.

    One ``hello`` within ``timeout`` seconds (the driver's own timeout, so a down server
    answers "unavailable" quickly instead of after server selection gives up).
    """
    report: dict[str, Any] = {
        "status": "unavailable",
        "checked_at": datetime.now(timezone.utc).isoformat(),
        "apps": list(apps),
        "database": {"reachable": False},
        "replica_set": None,
    }
    if client is None:
        report["database"]["error"] = "the engine is not initialized"
        return report
    started = time.perf_counter()
    try:
        with pymongo.timeout(timeout):
            hello = await client.admin.command("hello")
    except PyMongoError as exc:
        report["database"]["error"] = type(exc).__name__
        return report
    report["database"] = {
        "reachable": True,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    report["replica_set"] = _replica_set(hello)
    report["status"] = "ready"
    return report


def _replica_set(hello: Mapping[str, Any]) -> dict[str, Any] | None:
    if "setName" not in hello:
        return None
    if hello.get("isWritablePrimary"):
        state = "PRIMARY"
    elif hello.get("secondary"):
        state = "SECONDARY"
    else:
        state = "OTHER"
    return {
        "name": hello["setName"],
        "state": state,
        "primary": hello.get("primary"),
        "members": len(hello.get("hosts", [])),
    }
