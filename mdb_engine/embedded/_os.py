"""Operating-system helpers for LocalMongod: the guardian process, loopback ports, log tails."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

__all__ = [
    "GUARDIAN_GRACE",
    "POLL_INTERVAL",
    "TAIL_LINES",
    "accepts_connections",
    "close_quietly",
    "free_loopback_port",
    "guardian_launcher",
    "is_alive",
    "is_error_line",
    "kill_group",
    "lines_written_since",
    "stop_guardian",
    "tail_of_console",
    "wait_until_gone",
]

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.05
GUARDIAN_GRACE = 5.0  # beyond the stop timeout, before the guardian's group is SIGKILLed
TAIL_LINES = 20
_TAIL_BYTES = 64 * 1024
_LOG_READ_LIMIT = 1024 * 1024


def guardian_launcher() -> list[str]:
    """How to run the guardian: its file directly when there is one.

    ``python -m mdb_engine.embedded._guardian`` would import the whole ``mdb_engine`` package
    first (about 0.4 s and 30 MB more per guardian); the guardian needs only the stdlib.
    """
    script = Path(__file__).with_name("_guardian.py")
    if script.is_file():
        return [sys.executable, "-I", str(script)]
    return [sys.executable, "-m", "mdb_engine.embedded._guardian"]


def stop_guardian(guardian: subprocess.Popen[bytes], timeout: float) -> None:
    """Ask the guardian to stop mongod by closing its stdin; kill its group if it hangs."""
    if guardian.stdin is not None:
        with contextlib.suppress(OSError):
            guardian.stdin.write(f"{timeout}\n".encode())
        close_quietly(guardian.stdin)
    try:
        guardian.wait(timeout + GUARDIAN_GRACE)
    except subprocess.TimeoutExpired:
        logger.warning("mongod guardian %d did not stop in time; killing it", guardian.pid)
        kill_group(guardian.pid)
        guardian.wait()


def wait_until_gone(pid: int, group: int, timeout: float) -> None:
    """Wait for mongod to exit (it may outlive a killed guardian briefly); then SIGKILL."""
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() >= deadline:
            logger.warning("mongod pid %d did not exit in time; killing it", pid)
            kill_group(group)
            return
        time.sleep(POLL_INTERVAL)


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie nobody reaps still answers kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = stat.rpartition(")")[2].split()
    return not fields or fields[0] not in ("Z", "X")


def kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def close_quietly(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError):
        stream.close()


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def lines_written_since(path: Path, offset: int) -> list[str]:
    """The lines written to ``path`` after ``offset`` (at most the last MiB)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - _LOG_READ_LIMIT))
            data = log.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()


def is_error_line(line: str) -> bool:
    return '"s":"E"' in line or '"s":"F"' in line


def tail_of_console(console: IO[bytes]) -> list[str]:
    # pread leaves the offset alone: the guardian shares this open file and may still write.
    size = os.fstat(console.fileno()).st_size
    start = max(0, size - _TAIL_BYTES)
    data = os.pread(console.fileno(), size - start, start)
    return data.decode("utf-8", "replace").splitlines()[-TAIL_LINES:]
