"""Real servers for the WebSocket tests: uvicorn on loopback, in this event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn

from tests.auth.conftest import SECRET, secret_key  # noqa: F401 (autouse fixture)

Serve = Callable[[Any], Awaitable[str]]


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``await serve(app)`` runs ``app`` under uvicorn on loopback; returns ``ws://host:port``."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(app: Any) -> str:
        port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
        )
        server = uvicorn.Server(config)
        task = asyncio.get_running_loop().create_task(server.serve())
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        servers.append((server, task))
        return f"ws://127.0.0.1:{port}"

    yield start
    for server, task in servers:
        server.should_exit = True
        await task
