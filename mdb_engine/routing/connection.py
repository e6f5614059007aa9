"""One WebSocket connection: a bounded send queue drained by its own task.

Broadcasting only puts a message into each connection's queue, so a slow or dead client can
never make the others wait. A client is slow when its queue holds more than ``queue_size``
messages while a send to it has been stuck for ``STALL_SECONDS`` (the socket is full: it
does not read); it is then closed with 1013 (try again later) and the broadcasts go on. A
burst of broadcasts faster than the sender task runs is not slowness: the queue may then
grow up to ``4 × queue_size`` before the client is closed all the same, which bounds the
memory one client can hold. A keep-alive ``{"type": "ping"}`` is queued every
``ping_interval`` seconds; a client that cannot take it is found out the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

__all__ = ["CLOSE_OVERLOADED", "CLOSE_POLICY_VIOLATION", "Connection"]

logger = logging.getLogger(__name__)

CLOSE_POLICY_VIOLATION = 1008  # refused: no or bad credentials
CLOSE_OVERLOADED = 1013  # "try again later": the client did not keep up
CLOSE_GOING_AWAY = 1001
STALL_SECONDS = 0.5
_BURST_FACTOR = 4
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
        self._queue_size = queue_size
        self._pending: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._send_started: float | None = None  # loop time of the send in progress
        self._ping_interval = ping_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._overflowed = False
        self._on_closed = on_closed
        self._closer: asyncio.Task[None] | None = None

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
        self._pending.append(text)
        self._wakeup.set()
        if len(self._pending) > self._queue_size and self._is_slow():
            self._overflowed = True
            logger.warning(
                "app %r: WebSocket client %s is not keeping up; closed (1013)", self.app, self.id
            )
            self._closer = asyncio.get_running_loop().create_task(
                self._close_overflowed(), name=f"ws close {self.id}"
            )
            return False
        return True

    def _is_slow(self) -> bool:
        if len(self._pending) > self._queue_size * _BURST_FACTOR:
            return True
        started = self._send_started
        return started is not None and asyncio.get_running_loop().time() - started > STALL_SECONDS

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
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self._pending:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                while self._pending:  # everything queued since the last wake-up, in order
                    text = self._pending.popleft()
                    self._send_started = loop.time()
                    await self.websocket.send_text(text)
                    self._send_started = None
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away: the receive loop ends the connection
            self._closing = True

    async def _ping_forever(self) -> None:
        assert self._ping_interval is not None
        while True:
            await asyncio.sleep(self._ping_interval)
            self.offer('{"type": "ping"}')
