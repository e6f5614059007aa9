"""What the benchmark scripts share for the server processes they start on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket

__all__ = ["free_port", "stop_process_group"]


def free_port() -> int:
    """A loopback port nobody listens on (for a moment)."""
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def stop_process_group(
    process: asyncio.subprocess.Process, timeout: float, stop_signal: int = signal.SIGINT
) -> None:
    """Send ``stop_signal`` to a server started in its own session (it stops its workers);
    SIGKILL its whole process group if it is not gone after ``timeout`` seconds."""
    if process.returncode is None:
        process.send_signal(stop_signal)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
