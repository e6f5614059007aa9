"""Fixtures of the command-line tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.conftest import SECRET
from tests.cli.processes import CLI, free_port, stop


@pytest.fixture
def process_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDB_ENGINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_until_serving(base: str, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{base}/apps", timeout=5).raise_for_status()
            return
        except httpx.HTTPError:
            if process.poll() is not None:
                output = log.read_text()
                raise AssertionError(f"serve exited with {process.returncode}:\n{output}") from None
            assert time.monotonic() < deadline, f"serve never answered:\n{log.read_text()}"
            time.sleep(0.3)


@pytest.fixture
def serve(tmp_path: Path, process_env: dict[str, str]) -> Iterator[Any]:
    """``serve(apps_dir, *options, env={...})`` starts `mdb-engine serve`; the base URL once it
    answers (``env`` is added to the process's environment).
    Its output goes to a file (a pipe nobody reads would fill up and stall the server)."""
    processes: list[subprocess.Popen[str]] = []

    def start(apps_dir: Path, *options: str, env: dict[str, str] | None = None) -> str:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [*CLI, "serve", str(apps_dir), "--port", str(port), *options],
                cwd=tmp_path,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
                env={**process_env, "MDB_ENGINE_SECRET_KEY": SECRET, **(env or {})},
            )
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base, process, log)
        return base

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        stop(process)
