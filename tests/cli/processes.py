"""Running the ``mdb-engine`` command as a real process: start, wait for output, stop."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from typing import IO, Any

CLI = [sys.executable, "-m", "mdb_engine.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_line_with(stream: IO[str], needle: str, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 90
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} never printed; output:\n{''.join(seen)}")


def get_json(url: str) -> Any:
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()
