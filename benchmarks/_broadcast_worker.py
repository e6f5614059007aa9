"""The worker process of ``benchmarks/broadcast.py``: one uvicorn process serving both paths.

Configured from ``MDB_ENGINE_MONGO_URI`` and ``MDB_ENGINE_DB_NAME``. Two WebSocket endpoints:

- ``/ws``: the engine app's manifest endpoint (anonymous); ``POST /blast`` sends messages
  through ``engine.broadcast_to_app``, which reaches the other worker's clients through the
  change stream on ``_mdb_engine_broadcasts``;
- ``/plain``: a plain Starlette endpoint whose connections sit in a list; ``POST /blast-plain``
  sends the same messages to this process's connections with ``await ws.send_text(text)`` in a
  loop, nothing else.

Message ``n`` is the JSON text ``{"n":n,"pad":"x…"}`` padded to ``size`` bytes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from mdb_engine import MongoDBEngine
from mdb_engine.routing.messages import encode_message

APP = "bench"
MANIFEST: dict[str, Any] = {
    "schema_version": "2.0",
    "slug": APP,
    "name": "Broadcast benchmark",
    "websockets": {"live": {"path": "/ws", "auth": {"required": False}}},
}

engine = MongoDBEngine()
plain_connections: list[WebSocket] = []


class Blast(BaseModel):
    """``n`` messages of ``size`` bytes each."""

    n: int
    size: int


def message(number: int, size: int) -> dict[str, Any]:
    """Message ``number``, padded so that its JSON text is ``size`` bytes (when it fits)."""
    bare = len(encode_message({"n": number, "pad": ""}))
    return {"n": number, "pad": "x" * max(0, size - bare)}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the engine, serve the manifest's endpoint and open the broadcast bus."""
    await engine.initialize()
    engine.attach(app)
    await engine.register_app(MANIFEST)
    await engine.realtime.start()
    yield
    await engine.shutdown()


app = FastAPI(lifespan=lifespan)


@app.get("/state")
async def state() -> dict[str, Any]:
    """Whether the bus reaches other processes, the connections, and this process's CPU time."""
    return {
        "shared": engine.realtime.bus.is_shared,
        "engine": engine.realtime.manager.count(APP),
        "plain": len(plain_connections),
        "cpu_seconds": time.process_time(),
    }


@app.post("/blast")
async def blast(request: Blast) -> dict[str, float]:
    """Broadcast the messages through the engine, one awaited call after the other."""
    started = time.perf_counter()
    local = 0
    for number in range(request.n):
        local += await engine.broadcast_to_app(APP, message(number, request.size))
    return {"seconds": time.perf_counter() - started, "local": local}


@app.post("/blast-plain")
async def blast_plain(request: Blast) -> dict[str, float]:
    """Send the messages to this process's plain connections in a plain loop."""
    started = time.perf_counter()
    sent = failed = 0
    for number in range(request.n):
        text = encode_message(message(number, request.size))
        for websocket in list(plain_connections):
            try:
                await websocket.send_text(text)
                sent += 1
            except Exception:  # a client went away: its receive loop forgets it
                failed += 1
    return {"seconds": time.perf_counter() - started, "local": sent, "failed": failed}


@app.websocket("/plain")
async def plain(websocket: WebSocket) -> None:
    """Keep the connection in the list until the client goes away."""
    await websocket.accept()
    plain_connections.append(websocket)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        plain_connections.remove(websocket)
