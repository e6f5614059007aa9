"""One WebSocket connection: a bounded send queue drained by its own task.

Broadcasting only puts a message into each connection's queue, so a slow or dead client can
never make the others wait: when its queue is full it is closed with 1013 (try again later)
and the broadcast goes on. A keep-alive ``{"type": "ping"}`` is queued every
``ping_interval`` seconds; a client that cannot take it is found out the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

__all__ = ["CLOSE_OVERLOADED", "CLOSE_POLICY_VIOLATION", "Connection"]

logger = logging.getLogger(__name__)

CLOSE_POLICY_VIOLATION = 1008  # refused: no or bad credentials
CLOSE_OVERLOADED = 1013  # "try again later": the client did not keep up
CLOSE_GOING_AWAY = 1001
_CLOSE_TIMEOUT = 2.0


class Connection:
    """A client of one app's WebSocket endpoint."""

    def __init__(
        self,
        websocket: WebSocket,
        app: str,
        endpoint: str,
        user: Mapping[str, Any] | None,
        *,
        queue_size: int = 256,
        ping_interval: float | None = None,
        on_closed: Callable[[Connection], None] | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.websocket = websocket
        self.app = app
        self.endpoint = endpoint
        self.user = dict(user) if user is not None else None
        self.user_id: str | None = str(user["user_id"]) if user else None
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self._ping_interval = ping_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._overflowed = False
        self._on_closed = on_closed
        self._closer: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        """Whether messages are still being sent to the client."""
        return not self._closing

    def start(self) -> None:
        """Start the sender (and the pinger); the connection must be accepted."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._send_forever(), name=f"ws send {self.id}"))
        if self._ping_interval:
            self._tasks.append(loop.create_task(self._ping_forever(), name=f"ws ping {self.id}"))

    def offer(self, text: str) -> bool:
        """Queue a message without waiting; a full queue closes the connection (1013)."""
        if self._closing or self._overflowed:
            return False
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._overflowed = True
            logger.warning(
                "app %r: WebSocket client %s is not keeping up; closed (1013)", self.app, self.id
            )
            self._closer = asyncio.get_running_loop().create_task(
                self._close_overflowed(), name=f"ws close {self.id}"
            )
            return False
        return True

    async def _close_overflowed(self) -> None:
        # No timeout: the close frame waits behind what the client has not read yet, and is
        # sent once it reads (or the connection is dropped). Nothing else waits for it.
        self._closing = True
        self._forget()
        await self._stop_tasks()
        with contextlib.suppress(Exception):
            await self.websocket.close(CLOSE_OVERLOADED, "too slow: messages were piling up")

    async def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "") -> None:
        """Stop sending and close the socket (without waiting long for a stalled client)."""
        if self._closing:
            return
        self._closing = True
        self._forget()
        await self._stop_tasks()
        if self.websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):  # the client may already be gone
                await asyncio.wait_for(self.websocket.close(code, reason), _CLOSE_TIMEOUT)

    async def finish(self) -> None:
        """Release the tasks after the client went away."""
        self._closing = True
        self._forget()
        closer, self._closer = self._closer, None
        if closer is not None and closer is not asyncio.current_task():
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await closer
        await self._stop_tasks()

    def _forget(self) -> None:
        on_closed, self._on_closed = self._on_closed, None
        if on_closed is not None:
            on_closed(self)

    async def _stop_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _send_forever(self) -> None:
        try:
            while True:
                text = await self._queue.get()
                await self.websocket.send_text(text)
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away: the receive loop ends the connection
            self._closing = True

    async def _ping_forever(self) -> None:
        assert self._ping_interval is not None
        while True:
            await asyncio.sleep(self._ping_interval)
            self.offer('{"type": "ping"}')
