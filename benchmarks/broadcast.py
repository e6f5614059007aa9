"""What a broadcast costs: the engine's fan-out across 2 processes against a plain send loop.

Two uvicorn worker processes (``benchmarks/_broadcast_worker.py``) on loopback share one
mongod. This process opens ``--connections`` WebSocket clients (half to each worker) to each
of two endpoints and counts, per client, the messages it receives:

- ``engine``: the engine app's manifest endpoint ``/ws``. One worker is asked to broadcast
  N messages with ``engine.broadcast_to_app`` (awaited one after the other); its own clients
  get them from their send queues, the other worker's through the change stream on
  ``_mdb_engine_broadcasts``;
- ``plain``: a plain Starlette endpoint ``/plain``. A plain loop cannot reach another
  process, so both workers are asked at once to send the same N messages to their own half
  of the clients with ``for ws in connections: await ws.send_text(text)``.

A path's time runs from the HTTP request (or the two) that starts the sending to the moment
the last client received message N; its rate is connections × N / time (delivered messages
per second, end to end). The paths take turns, starting with a different one each round,
after a small warm-up round; the medians over rounds are printed, with
``engine / plain`` (> 1: the engine delivers faster). CPU seconds of the workers and of this
process (the clients) are printed too: on a small machine the clients can be what limits both.

Usage: ``python benchmarks/broadcast.py [--connections C] [--messages N] [--size BYTES]
[--rounds R] [--uri URI] [--json]``. Without ``--uri`` a local mongod is started in a
temporary directory; either way the workers use a fresh ``mdb_bench_*`` database, dropped
afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pymongo
import uvicorn
from _processes import free_port
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.version import version as websockets_version

from mdb_engine import __version__

__all__ = ["PATHS", "main", "missed_targets", "render"]

PATHS = ("engine", "plain")
ENDPOINTS = {"engine": "/ws", "plain": "/plain"}
BLASTS = {"engine": "/blast", "plain": "/blast-plain"}
WORKERS = 2
WARMUP_MESSAGES = 10
BENCHMARKS = Path(__file__).resolve().parent
MESSAGE_PREFIX = '{"n":'  # the benchmark's messages; keep-alive pings are not counted
START_TIMEOUT = 60.0
CONNECT_CONCURRENCY = 50


class Client:
    """One WebSocket client: reads every message and checks that they come in order."""

    def __init__(self, websocket: ClientConnection, worker: int) -> None:
        self.websocket = websocket
        self.worker = worker
        self.received = 0
        self.disordered = 0
        self.round: Round | None = None
        self.is_closed = False
        self.close_code: int | None = None

    async def read(self) -> None:
        """Count the benchmark's messages until the connection closes."""
        try:
            async for text in self.websocket:
                if not isinstance(text, str) or not text.startswith(MESSAGE_PREFIX):
                    continue
                if int(text[5 : text.index(",", 5)]) != self.received:
                    self.disordered += 1
                self.received += 1
                if self.round is not None and self.received == self.round.messages:
                    self.round.finish(self.worker)
        except ConnectionClosed:
            pass
        self.is_closed = True
        self.close_code = self.websocket.close_code
        if self.round is not None and self.received < self.round.messages:
            self.round.lose(self.close_code)


class Round:
    """One path's round: when the clients of each worker received their last message."""

    def __init__(self, clients: int, messages: int) -> None:
        self.messages = messages
        self.remaining = clients
        self.last_receipt = [0.0] * WORKERS
        self.close_codes: list[int | None] = []
        self.done = asyncio.Event()

    def finish(self, worker: int) -> None:
        """A client of ``worker`` received its last message."""
        self.last_receipt[worker] = time.perf_counter()
        self._count_down()

    def lose(self, close_code: int | None) -> None:
        """A client's connection closed before its last message (e.g. 1013 from the engine)."""
        self.close_codes.append(close_code)
        self._count_down()

    def _count_down(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set()


class Worker:
    """A uvicorn worker process on a loopback port."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def ws_url(self, path: str) -> str:
        """The WebSocket address of ``path``."""
        return f"ws://127.0.0.1:{self.port}{path}"

    def failure(self, what: str) -> RuntimeError:
        """An error saying ``what``, with the end of the worker's log."""
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        return RuntimeError(f"worker on port {self.port} {what}; its log ends:\n{tail}")


def raise_open_file_limit(needed: int) -> int:
    """Raise the soft limit of open files towards ``needed`` (the workers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


async def start_worker(uri: str, database: str, logs: Path) -> Worker:
    """Start one uvicorn process serving the worker app."""
    port = free_port()
    log = logs / f"worker-{port}.log"
    env = {**os.environ, "MDB_ENGINE_MONGO_URI": uri, "MDB_ENGINE_DB_NAME": database}
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "_broadcast_worker:app",
            "--app-dir",
            str(BENCHMARKS),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--ws",
            "websockets-sansio",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    return Worker(process, port, log)


async def wait_until_ready(http: httpx.AsyncClient, worker: Worker) -> None:
    """Wait until the worker answers and its broadcast bus reaches the other processes."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if worker.process.returncode is not None:
            raise worker.failure(f"exited with {worker.process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get(f"{worker.url}/state")).json()["shared"]:
                return
        if time.monotonic() > deadline:
            raise worker.failure("did not start (or has no change stream)")
        await asyncio.sleep(0.1)


async def stop_worker(worker: Worker) -> None:
    """Terminate the process (kill it if it does not end within 10 s) and reap it."""
    if worker.process.returncode is None:
        worker.process.terminate()
        try:
            await asyncio.wait_for(worker.process.wait(), 10)
        except asyncio.TimeoutError:
            worker.process.kill()
    await worker.process.wait()


async def open_clients(workers: Sequence[Worker], path: str, count: int) -> list[Client]:
    """``count`` clients of ``path``, spread evenly over the workers, each reading."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def open_one(number: int) -> Client:
        worker = number % len(workers)
        async with gate:
            websocket = await connect(
                workers[worker].ws_url(path), compression=None, open_timeout=30
            )
        return Client(websocket, worker)

    return list(await asyncio.gather(*(open_one(number) for number in range(count))))


async def wait_for_connections(
    http: httpx.AsyncClient, workers: Sequence[Worker], expected: Mapping[str, int]
) -> None:
    """Wait until every worker serves its share of each path's clients."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        states = [(await http.get(f"{worker.url}/state")).json() for worker in workers]
        shares = [{path: state[path] for path in expected} for state in states]
        if all(
            share[path] == (expected[path] + len(workers) - 1 - number) // len(workers)
            for number, share in enumerate(shares)
            for path in expected
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers serve {shares}, expected {dict(expected)} in all")
        await asyncio.sleep(0.05)


async def run_path(
    http: httpx.AsyncClient,
    workers: Sequence[Worker],
    clients: Sequence[Client],
    path: str,
    messages: int,
    size: int,
    publisher: int,
) -> dict[str, Any]:
    """Send ``messages`` on ``path`` and wait until every client has them (or a timeout)."""
    current = Round(len(clients), messages)
    for client in clients:
        client.received = client.disordered = 0
        if client.is_closed:
            current.lose(client.close_code)
        else:
            client.round = current
    senders = [workers[publisher]] if path == "engine" else list(workers)
    cpu_before = [await _cpu_seconds(http, worker) for worker in workers]
    client_cpu = time.process_time()
    timeout = 60 + len(clients) * messages / 5_000
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(
            http.post(f"{worker.url}{BLASTS[path]}", json={"n": messages, "size": size})
            for worker in senders
        )
    )
    for answer in answers:
        answer.raise_for_status()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(current.done.wait(), timeout)
    finished = time.perf_counter()
    client_cpu = time.process_time() - client_cpu
    cpu_after = [await _cpu_seconds(http, worker) for worker in workers]
    for client in clients:
        client.round = None
    is_complete = current.remaining == 0 and not current.close_codes
    seconds = (max(current.last_receipt) if is_complete else finished) - started
    delivered = sum(min(client.received, messages) for client in clients)
    by_worker = [receipt - started if receipt else None for receipt in current.last_receipt]
    if path == "engine" and publisher:
        by_worker.reverse()  # the publishing worker's clients first
    return {
        "seconds": seconds,
        "rate": delivered / seconds,
        "delivered": delivered,
        "expected": len(clients) * messages,
        "disordered": sum(client.disordered for client in clients),
        "closed_clients": len(current.close_codes),
        "close_codes": sorted({code or 0 for code in current.close_codes}),
        "send_seconds": max(answer.json()["seconds"] for answer in answers),
        "last_receipt_by_worker": by_worker,
        "worker_cpu_seconds": sum(cpu_after) - sum(cpu_before),
        "client_cpu_seconds": client_cpu,
    }


async def _cpu_seconds(http: httpx.AsyncClient, worker: Worker) -> float:
    seconds: float = (await http.get(f"{worker.url}/state")).json()["cpu_seconds"]
    return seconds


async def measure(
    uri: str, connections: int, messages: int, size: int, rounds: int
) -> dict[str, Any]:
    """Start the workers on a fresh database, run the rounds, stop and drop; the report."""
    database = f"mdb_bench_{uuid.uuid4().hex[:12]}"
    admin: AsyncMongoClient[Mapping[str, Any]] = AsyncMongoClient(uri)
    workers: list[Worker] = []
    clients: dict[str, list[Client]] = {}
    readers: list[asyncio.Task[None]] = []
    results: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
    try:
        with tempfile.TemporaryDirectory(prefix="mdb_bench_broadcast_") as logs:
            try:
                for _ in range(WORKERS):
                    workers.append(await start_worker(uri, database, Path(logs)))
                async with httpx.AsyncClient(timeout=None) as http:
                    for worker in workers:
                        await wait_until_ready(http, worker)
                    for path in PATHS:
                        clients[path] = await open_clients(workers, ENDPOINTS[path], connections)
                    readers = [
                        asyncio.get_running_loop().create_task(client.read())
                        for path_clients in clients.values()
                        for client in path_clients
                    ]
                    await wait_for_connections(http, workers, dict.fromkeys(PATHS, connections))
                    for number in range(rounds + 1):  # round 0 warms up, with fewer messages
                        order = PATHS if number % 2 else PATHS[::-1]
                        for path in order:
                            result = await run_path(
                                http,
                                workers,
                                clients[path],
                                path,
                                messages if number else WARMUP_MESSAGES,
                                size,
                                publisher=number % WORKERS,
                            )
                            if number:
                                results[path].append(result)
            finally:
                for path_clients in clients.values():
                    await asyncio.gather(
                        *(client.websocket.close() for client in path_clients),
                        return_exceptions=True,
                    )
                for reader in readers:
                    reader.cancel()
                await asyncio.gather(*readers, return_exceptions=True)
                for worker in workers:
                    await stop_worker(worker)
    finally:
        with contextlib.suppress(PyMongoError):  # cleaning up must not hide the real error
            await admin.drop_database(database)
        await admin.close()
    paths = {path: summarize(results[path]) for path in PATHS}
    return {
        "connections": connections,
        "messages": messages,
        "size": size,
        "rounds": rounds,
        "workers": [{"pid": worker.process.pid, "port": worker.port} for worker in workers],
        "paths": paths,
        "engine_over_plain": paths["engine"]["rate"] / paths["plain"]["rate"],
    }


def summarize(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A path's rounds: medians of the rates and times, sums of what went missing."""

    def median(key: str) -> float:
        return statistics.median(float(result[key]) for result in results)

    receipts = [result["last_receipt_by_worker"] for result in results]
    return {
        "rate": median("rate"),
        "rates": [result["rate"] for result in results],
        "seconds": median("seconds"),
        "send_seconds": median("send_seconds"),
        "last_receipt_by_worker": [
            None
            if any(row[worker] is None for row in receipts)
            else statistics.median(row[worker] for row in receipts)
            for worker in range(WORKERS)
        ],
        "worker_cpu_seconds": median("worker_cpu_seconds"),
        "client_cpu_seconds": median("client_cpu_seconds"),
        "delivered": sum(result["delivered"] for result in results),
        "expected": sum(result["expected"] for result in results),
        "disordered": sum(result["disordered"] for result in results),
        "closed_clients": sum(result["closed_clients"] for result in results),
        "close_codes": sorted({code for result in results for code in result["close_codes"]}),
    }


def missed_targets(report: Mapping[str, Any]) -> list[str]:
    """Every message must reach every client, in order, on both paths: what did not."""
    missed = []
    for path in PATHS:
        summary = report["paths"][path]
        if summary["delivered"] < summary["expected"]:
            missed.append(
                f"{path}: {summary['expected'] - summary['delivered']:,} of "
                f"{summary['expected']:,} messages not delivered"
            )
        if summary["disordered"]:
            missed.append(f"{path}: {summary['disordered']:,} messages out of order")
        if summary["closed_clients"]:
            codes = ", ".join(str(code) for code in summary["close_codes"])
            missed.append(
                f"{path}: {summary['closed_clients']:,} clients closed early (codes {codes})"
            )
    return missed


def render(report: Mapping[str, Any]) -> str:
    """The report as Markdown: rates, the ratio, where the time went, the missed targets."""
    paths = report["paths"]
    lines = [
        f"Broadcast: {report['messages']} messages of {report['size']} bytes to "
        f"{report['connections']} WebSocket clients over {WORKERS} worker processes, median of "
        f"{report['rounds']} rounds; delivered messages per second, end to end.",
        "",
        "| path | delivered / s | time | ratio to plain | workers' CPU | clients' CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for path in PATHS:
        summary = paths[path]
        ratio = report["engine_over_plain"] if path == "engine" else 1.0
        lines.append(
            f"| {path} | {summary['rate']:,.0f} | {summary['seconds'] * 1000:,.0f} ms | "
            f"{ratio:.2f} | {summary['worker_cpu_seconds']:.2f} s | "
            f"{summary['client_cpu_seconds']:.2f} s |"
        )
    engine, plain = paths["engine"], paths["plain"]
    local, remote = (_milliseconds(seconds) for seconds in engine["last_receipt_by_worker"])
    lines += [
        "",
        f"Engine: the {report['messages']} `broadcast_to_app` calls took "
        f"{engine['send_seconds'] * 1000:,.0f} ms; the last client of the sending worker had "
        f"everything after {local}, the last of the other worker (change stream) "
        f"after {remote}. Plain: the send loops took "
        f"{plain['send_seconds'] * 1000:,.0f} ms.",
        "",
    ]
    missed = missed_targets(report)
    lines.append(f"Targets missed: {'; '.join(missed)}" if missed else "All targets met.")
    return "\n".join(lines)


def _milliseconds(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds * 1000:,.0f} ms"


def _environment(open_files: int) -> dict[str, Any]:
    return {
        "mdb_engine": __version__,
        "pymongo": pymongo.version,
        "uvicorn": uvicorn.__version__,
        "websockets": websockets_version,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "open_files_limit": open_files,
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    options = (args.connections, args.messages, args.size, args.rounds)
    if args.uri:
        return await measure(args.uri, *options)
    from mdb_engine.embedded import LocalMongod

    async with LocalMongod() as mongod:
        return await measure(mongod.uri, *options)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--connections", type=_positive, default=500, help="clients per path (default 500)"
    )
    parser.add_argument(
        "--messages", type=_positive, default=200, help="messages per round (default 200)"
    )
    parser.add_argument(
        "--size", type=_positive, default=256, help="bytes per message (default 256)"
    )
    parser.add_argument("--rounds", type=_positive, default=3, help="timed rounds (default 3)")
    parser.add_argument("--uri", help="an existing MongoDB (default: start a local mongod)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 0 even when a target is missed."""
    args = parse_args(argv)
    # Both paths' clients, the workers' sockets, mongod's: more than a default 1024 at 500.
    open_files = raise_open_file_limit(2 * args.connections + 512)
    load_before = os.getloadavg()[0]
    report = asyncio.run(_run(args))
    report["missed"] = missed_targets(report)
    report["environment"] = {
        **_environment(open_files),
        "load_average": [load_before, os.getloadavg()[0]],
    }
    sys.stdout.write((json.dumps(report, indent=2) if args.json else render(report)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
