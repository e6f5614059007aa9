"""Two real uvicorn worker processes on loopback share the mongod: broadcasts reach both."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.auth.conftest import SECRET
from tests.routing.conftest import free_port
from tests.routing.test_websockets import closed_with, receive

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def workers(mongodb_uri: str, mongodb_database: str) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "MDB_ENGINE_MONGO_URI": mongodb_uri,
        "MDB_ENGINE_DB_NAME": mongodb_database,
        "MDB_ENGINE_SECRET_KEY": SECRET,
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.routing.worker_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=env,
        )
        for port in ports
    ]
    try:
        urls = [f"127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 60
        for url, process in zip(urls, processes, strict=True):
            while True:
                assert process.poll() is None, "a worker exited"
                assert time.monotonic() < deadline, "a worker did not start"
                try:
                    if httpx.get(f"http://{url}/state").json()["shared"]:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


async def wait_for_connections(urls: list[str], expected: list[dict[str, int]]) -> None:
    async with httpx.AsyncClient() as http:
        deadline = time.monotonic() + 10
        while True:
            states = [(await http.get(f"http://{url}/state")).json() for url in urls]
            if [state["connections"] for state in states] == expected:
                return
            assert time.monotonic() < deadline, states
            await asyncio.sleep(0.05)


async def test_a_broadcast_from_one_worker_reaches_clients_on_both(workers: list[str]) -> None:
    one, two = workers
    async with httpx.AsyncClient() as http:
        registered = await http.post(
            f"http://{one}/auth/register",
            json={"email": "ada@example.com", "password": "correct horse"},
        )
        token = registered.json()["access_token"]
        header = {"Authorization": f"Bearer {token}"}
        async with (
            connect(f"ws://{one}/alpha/ws", additional_headers=header) as alpha_one,
            connect(f"ws://{two}/alpha/ws", additional_headers=header) as alpha_two,
            connect(f"ws://{two}/beta/ws") as beta_two,
        ):
            async with connect(f"ws://{two}/alpha/ws") as anonymous:
                assert await closed_with(anonymous) == 1008
            await wait_for_connections(workers, [{"alpha": 1, "beta": 0}, {"alpha": 1, "beta": 1}])
            sent = await http.post(f"http://{one}/broadcast/alpha", json={"type": "update", "n": 1})
            assert sent.json() == {"local": 1}
            assert await receive(alpha_one) == {"type": "update", "n": 1}
            assert await receive(alpha_two) == {"type": "update", "n": 1}

            await http.post(f"http://{one}/broadcast/beta", json={"type": "beta", "n": 2})
            # beta's client gets beta's message, and alpha's before it never reached it.
            assert await receive(beta_two) == {"type": "beta", "n": 2}
            with pytest.raises(asyncio.TimeoutError):
                await receive(alpha_two, timeout=0.3)
