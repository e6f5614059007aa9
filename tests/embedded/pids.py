"""Watching processes from the outside, as the embedded-mongod tests need (from /proc)."""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["is_alive", "wait_until_gone"]


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie nobody reaped counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_until_gone(pid: int, timeout: float = 15.0) -> bool:
    """Whether ``pid`` is gone within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
