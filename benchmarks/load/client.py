"""One load-generating process of ``benchmarks/load_http.py``: many HTTP clients on asyncio.

Started by ``load_http.py`` (``python benchmarks/load/client.py``), it reads its settings as
one JSON line on stdin, then:

1. set-up (not timed): each of its clients opens one keep-alive connection (spread evenly
   over the server's workers, see :class:`Balancer`), registers a user
   (one Argon2 hash on the server) and creates ``seed_items`` items; prints ``ready``;
2. waits for ``go`` on stdin, then each client loops for ``duration`` seconds over its own
   shuffled cycle of 20 requests (create 4, get 7, list 4, update 3, delete 2, always on its
   own items), logging in again once every ``login_every`` requests (the first time at a
   random point of its first ``login_every``, so the logins are spread over the run);
3. prints one JSON line: counts, latency histograms, errors, its CPU and wall time.

HTTP/1.1 is spoken directly on asyncio streams (uvloop when installed): a request costs the
clients about 0.13 ms of CPU, a tenth of what it costs the server's workers. Every answer's
status is checked: anything but the expected 2xx is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

CYCLE = ("create",) * 4 + ("get",) * 7 + ("list",) * 4 + ("update",) * 3 + ("delete",) * 2
EXPECTED_STATUS = {
    "register": 201,
    "login": 200,
    "create": 201,
    "get": 200,
    "list": 200,
    "update": 200,
    "delete": 204,
}
PASSWORD = "load-test-password"
LIST_LIMIT = 20
REQUEST_TIMEOUT = 60.0
CONNECT_ATTEMPTS = 100  # then the connection is kept, even on a worker over its share
BUCKETS_PER_E = 100  # latency histogram: bucket i holds exp(i/100) µs, about 1 % wide


class HTTPError(Exception):
    """An answer with an unexpected status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Balancer:
    """Spreads one process's connections evenly over the server's worker processes.

    uvicorn's workers share one listening socket and the kernel gives each new connection to
    whichever worker accepts first: 200 connections opened at once were split 117/83, 104/96
    and 159/41 in three tries. With long-lived connections the busier worker then limits the
    run, so a connection that reached a worker which already has its share is reopened.
    """

    def __init__(self, workers: Sequence[int], clients: int) -> None:
        self.quota = -(-clients // max(len(workers), 1))
        self.connections: Counter[int] = Counter()

    def admit(self, worker: int) -> bool:
        """Whether a new connection to ``worker`` is kept (it is then counted)."""
        if self.connections[worker] >= self.quota:
            return False
        self.connections[worker] += 1
        return True

    def release(self, worker: int) -> None:
        """A connection to ``worker`` closed."""
        self.connections[worker] -= 1


class Connection:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int, balancer: Balancer, home: str) -> None:
        self.host = host
        self.port = port
        self.balancer = balancer
        self.home = home  # answers {"pid": <worker>}
        self.worker: int | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, bytes]:
        """Send one request and read its answer: ``(status, body)``.

        A kept-alive connection the server closed while it was idle (uvicorn does after 5 s)
        is reopened and the request sent again, as HTTP clients do: the server never saw it.
        """
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if token is not None:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        message = (head + f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
        if self.reader is not None and self.reader.at_eof():
            self.close()
        is_reused = self.writer is not None
        try:
            return await self._exchange(message)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            is_unanswered = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
            if not (is_reused and is_unanswered):
                raise
        return await self._exchange(message)

    async def _exchange(self, message: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self._open()
        assert self.reader is not None
        assert self.writer is not None
        try:
            self.writer.write(message)
            return await asyncio.wait_for(self._read(self.reader), REQUEST_TIMEOUT)
        except BaseException:
            self.close()
            raise

    async def _open(self) -> None:
        """Connect to a worker that has not got its share of connections yet."""
        for attempt in range(CONNECT_ATTEMPTS):
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(f"GET {self.home} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
            status, content = await asyncio.wait_for(self._read(self.reader), REQUEST_TIMEOUT)
            if status != 200:
                raise HTTPError(status)
            worker: int = json.loads(content)["pid"]
            if self.balancer.admit(worker) or attempt == CONNECT_ATTEMPTS - 1:
                self.worker = worker
                return
            self.writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        is_chunked = is_closing = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                is_chunked = b"chunked" in value.lower()
            elif name == b"connection":
                is_closing = b"close" in value.lower()
        if is_chunked:
            body = bytearray()
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await reader.readexactly(size + 2)
                del body[-2:]
            await reader.readuntil(b"\r\n")
            content = bytes(body)
        else:
            content = await reader.readexactly(length) if length else b""
        if is_closing:
            self.close()
        return status, content

    def close(self) -> None:
        """Close the socket; the next request opens a new one."""
        if self.writer is not None:
            self.writer.close()
        if self.worker is not None:
            self.balancer.release(self.worker)
        self.reader = self.writer = None
        self.worker = None


@dataclass
class Tally:
    """What this process measured: requests, latency histograms and errors per kind."""

    counts: Counter[str] = field(default_factory=Counter)
    histograms: dict[str, Counter[int]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, seconds: float) -> None:
        """One answered request of ``kind`` that took ``seconds``."""
        self.counts[kind] += 1
        bucket = int(math.log(max(seconds * 1e6, 1.0)) * BUCKETS_PER_E)
        self.histograms.setdefault(kind, Counter())[bucket] += 1

    def to_json(self) -> dict[str, Any]:
        """The tally as JSON-ready data."""
        return {
            "counts": dict(self.counts),
            "histograms": {kind: dict(buckets) for kind, buckets in self.histograms.items()},
            "errors": dict(self.errors),
        }


class VirtualClient:
    """One user: its connection, its token and the ids of the items it owns."""

    def __init__(
        self, number: int, settings: dict[str, Any], tally: Tally, balancer: Balancer
    ) -> None:
        self.email = f"user{number}-{settings['run']}@load.example"
        self.prefix: str = settings["prefix"]
        home = f"{self.prefix}/"
        self.connection = Connection(settings["host"], settings["port"], balancer, home)
        self.tally = tally
        self.random = random.Random(f"{settings['seed']}:{number}")
        self.token: str | None = None
        self.items: list[str] = []

    async def call(self, kind: str, method: str, path: str, body: Any = None) -> Any:
        """One request of ``kind``, timed and checked; its JSON answer (``None`` if empty)."""
        started = time.perf_counter()
        try:
            status, content = await self.connection.request(
                method, self.prefix + path, body, self.token
            )
        except Exception as exc:
            self.tally.errors[f"{kind}: {type(exc).__name__}"] += 1
            raise
        if status != EXPECTED_STATUS[kind]:
            self.tally.errors[f"{kind}: HTTP {status}"] += 1
            raise HTTPError(status)
        self.tally.record(kind, time.perf_counter() - started)
        return json.loads(content) if content else None

    async def set_up(self, seed_items: int) -> None:
        """Register (and so log in), then create the first items."""
        answer = await self.call(
            "register", "POST", "/auth/register", {"email": self.email, "password": PASSWORD}
        )
        self.token = answer["access_token"]
        for _ in range(seed_items):
            await self.create()

    async def run(self, deadline: float, login_every: int) -> None:
        """Loop over the mix until ``deadline``; an error is counted and the loop goes on."""
        cycle = list(CYCLE)
        self.random.shuffle(cycle)
        until_login = self.random.randrange(login_every)
        step = 0
        while time.perf_counter() < deadline:
            kind = cycle[step % len(cycle)]
            if until_login == 0:
                kind, until_login = "login", login_every
            else:
                until_login -= 1
                step += 1
            with contextlib.suppress(  # counted in the tally
                HTTPError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError
            ):
                await self.perform(kind)

    async def perform(self, kind: str) -> None:
        """One request of the mix."""
        body: dict[str, Any]
        if kind == "login":
            body = {"email": self.email, "password": PASSWORD}
            self.token = (await self.call("login", "POST", "/auth/login", body))["access_token"]
        elif kind == "create" or not self.items:
            await self.create()
        elif kind == "get":
            await self.call("get", "GET", f"/items/{self.random.choice(self.items)}")
        elif kind == "list":
            await self.call("list", "GET", f"/items?limit={LIST_LIMIT}")
        elif kind == "update":
            body = {"title": f"changed {self.random.random():.6f}", "done": True}
            await self.call("update", "PUT", f"/items/{self.random.choice(self.items)}", body)
        else:
            item = self.items.pop(self.random.randrange(len(self.items)))
            await self.call("delete", "DELETE", f"/items/{item}")

    async def create(self) -> None:
        """Create one item and remember its id."""
        body = {"title": f"item {self.random.random():.6f}", "done": False}
        self.items.append((await self.call("create", "POST", "/items", body))["id"])


async def run(settings: dict[str, Any]) -> dict[str, Any]:
    """Set up, report ``ready``, wait for ``go``, run the mix: the process's measurements."""
    setup, tally = Tally(), Tally()
    balancer = Balancer(settings["workers"], len(settings["clients"]))
    clients = [VirtualClient(number, settings, setup, balancer) for number in settings["clients"]]
    gate = asyncio.Semaphore(settings.get("setup_concurrency", 50))

    async def set_up(client: VirtualClient) -> None:
        async with gate:
            await client.set_up(settings["seed_items"])

    await asyncio.gather(*(set_up(client) for client in clients))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if (await asyncio.to_thread(sys.stdin.readline)).strip() != "go":
        raise SystemExit("expected 'go' on stdin")
    for client in clients:
        client.tally = tally
    cpu, started = time.process_time(), time.perf_counter()
    deadline = started + settings["duration"]
    await asyncio.gather(*(client.run(deadline, settings["login_every"]) for client in clients))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    connections = {str(worker): count for worker, count in balancer.connections.items()}
    for client in clients:
        client.connection.close()
    return {
        "setup": setup.to_json(),
        "window": tally.to_json(),
        "seconds": wall,
        "cpu_seconds": cpu,
        "items_held": sum(len(client.items) for client in clients),
        "connections_by_worker": connections,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Read the settings from stdin, run, and write the result as one JSON line."""
    settings = json.loads(sys.stdin.readline())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(settings))
    else:
        result = uvloop.run(run(settings))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
