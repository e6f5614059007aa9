"""HTTP under load: an engine app served with 2 workers against the same API in plain FastAPI.

Two apps with the same HTTP API (register, log in, and create / get / list / update / delete
of the user's own items) are served in turn on loopback, each by 2 worker processes, on the
same mongod, each on a fresh database:

- ``engine``: the app folder ``benchmarks/load/apps`` served by
  ``mdb-engine serve DIR --workers 2`` (app users from the manifest, ``get_current_user``,
  ``get_app_db``);
- ``plain``: ``benchmarks/load/plain_app.py`` served by ``uvicorn ... --workers 2`` (a users
  collection, pwdlib Argon2, PyJWT HS256 tokens, a bearer dependency, ``AsyncMongoClient``).

``--client-processes`` processes (``benchmarks/load/client.py``) share ``--clients`` clients,
each with one keep-alive connection, spread evenly over the workers.
Each client registers once (set-up, not timed), then for ``--duration`` seconds loops over
create 20 %, get 35 %, list 20 %, update 15 %, delete 10 % on its own items, with one
log-in every ``--login-every`` requests. The apps take turns (plain, engine, plain, engine,
…) for ``--rounds`` rounds. The report gives, per app, requests per second, p50 / p99 latency
per kind and overall, errors by kind (target 0: any status other than the expected one),
each worker's RSS before and after the load, the CPU used by the clients, the workers and
mongod, and ``engine / plain`` of the throughput (target >= 0.9).

Usage: ``python benchmarks/load_http.py [--clients 200] [--duration 60] [--rounds 2]
[--workers 2] [--client-processes 2] [--login-every 1000] [--mongo-uri URI] [--json PATH]``.
Without ``--mongo-uri`` a local mongod is started in a temporary directory; the databases
are dropped afterwards either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import secrets
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _processes import free_port, stop_process_group
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

__all__ = ["APPS", "KINDS", "main", "missed_targets", "render"]

APPS = ("plain", "engine")
KINDS = ("login", "create", "get", "list", "update", "delete")
LOAD_DIR = Path(__file__).resolve().parent / "load"
ENGINE_SLUG = "load_items"
PREFIXES = {"engine": f"/apps/{ENGINE_SLUG}", "plain": ""}
ITEM_COLLECTIONS = {"engine": f"{ENGINE_SLUG}_items", "plain": "items"}
RATIO_TARGET = 0.9
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
BUCKETS_PER_E = 100  # as in load/client.py
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Server:
    """A server process (uvicorn's supervisor) and its worker processes."""

    app: str
    process: asyncio.subprocess.Process
    port: int
    log: Path
    workers: tuple[int, ...] = ()

    def failure(self, what: str) -> RuntimeError:
        """An error saying ``what``, with the end of the server's log."""
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return RuntimeError(f"{self.app} server {what}; its log ends:\n{tail}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, in bytes."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


def children_of(pid: int) -> set[int]:
    """The direct child processes of ``pid``."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children.update(int(child) for child in (task / "children").read_text().split())
    return children


async def start_server(
    app: str, uri: str, database: str, workers: int, secret: str, folder: Path
) -> Server:
    """Start ``app``'s server with ``workers`` worker processes on a free loopback port."""
    port = free_port()
    log = folder / f"{app}-{port}.log"
    env = {**os.environ, "MDB_ENGINE_SECRET_KEY": secret}
    if app == "engine":
        command = ["-m", "mdb_engine.cli", "serve", str(LOAD_DIR / "apps")]
        command += ["--mongo-uri", uri, "--db", database, "--port", str(port)]
    else:
        env.update(LOAD_MONGO_URI=uri, LOAD_DB_NAME=database, LOAD_SECRET_KEY=secret)
        command = ["-m", "uvicorn", "plain_app:app", "--app-dir", str(LOAD_DIR)]
        command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *command,
            "--workers",
            str(workers),
            cwd=folder,  # `serve` keeps its local state (.mdb_engine/) in the working folder
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    return Server(app, process, port, log)


async def wait_until_ready(server: Server, workers: int) -> None:
    """Wait until ``workers`` worker processes run and each has answered a request."""
    deadline = time.monotonic() + START_TIMEOUT
    seen: set[int] = set()
    while True:
        if server.process.returncode is not None:
            raise server.failure(f"exited with {server.process.returncode}")
        with contextlib.suppress(OSError, ValueError, asyncio.IncompleteReadError):
            seen.add(await _answering_pid(server))
        # The supervisor has another child (multiprocessing's resource tracker): the workers
        # are the children that answered. With one worker, uvicorn serves from the process.
        if len(seen) >= workers and seen <= children_of(server.process.pid) | {server.process.pid}:
            server.workers = tuple(sorted(seen))
            return
        if time.monotonic() > deadline:
            raise server.failure(f"did not start {workers} workers (answered: {sorted(seen)})")
        await asyncio.sleep(0.05)


async def _answering_pid(server: Server) -> int:
    # A new connection each time, so that the kernel hands it to any of the workers.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        path = PREFIXES[server.app] + "/"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ValueError(head[:40])
    pid: int = json.loads(body)["pid"]
    return pid


async def stop_server(server: Server) -> None:
    """SIGINT the supervisor (it stops its workers); SIGKILL the group after a while."""
    await stop_process_group(server.process, STOP_TIMEOUT, signal.SIGINT)


async def run_clients(
    server: Server,
    args: argparse.Namespace,
    run: str,
    mongod_pid: int | None,
    admin: AsyncMongoClient[Mapping[str, Any]],
    seed: str,
) -> dict[str, Any]:
    """Start the client processes, let them set up, run the load; their merged results."""
    groups = [
        list(range(n, args.clients, args.client_processes)) for n in range(args.client_processes)
    ]
    processes = []
    for group in groups:
        with server.log.open("ab") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(LOAD_DIR / "client.py"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                limit=2**24,  # the result is one JSON line of histograms, over 64 KiB
            )
        settings = {
            "host": "127.0.0.1",
            "port": server.port,
            "prefix": PREFIXES[server.app],
            "clients": group,
            "run": run,
            "seed": seed,
            "workers": server.workers,
            "duration": args.duration,
            "login_every": args.login_every,
            "seed_items": args.seed_items,
        }
        assert process.stdin is not None
        process.stdin.write(json.dumps(settings).encode() + b"\n")
        processes.append(process)
    try:
        setup_started = time.perf_counter()
        for process in processes:
            await asyncio.wait_for(_expect_line(process, server, b"ready"), 60 + args.clients)
        setup_seconds = time.perf_counter() - setup_started
        watched = [*server.workers, *([mongod_pid] if mongod_pid else [])]
        operations_before = await server_operations(admin)
        cpu_before = {pid: cpu_seconds(pid) for pid in watched}
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
        outputs = [
            await asyncio.wait_for(_expect_line(process, server, b"{"), args.duration + 120)
            for process in processes
        ]
        cpu = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in watched}
        operations = await server_operations(admin) - operations_before
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.wait()
    results = [json.loads(line) for line in outputs]
    return {
        "results": results,
        "setup_seconds": setup_seconds,
        "worker_cpu_seconds": sum(cpu[pid] for pid in server.workers),
        "worker_cpu_by_pid": {pid: cpu[pid] for pid in server.workers},
        "mongod_cpu_seconds": cpu[mongod_pid] if mongod_pid else None,
        "server_operations": operations,
    }


async def server_operations(admin: AsyncMongoClient[Mapping[str, Any]]) -> int:
    """Operations mongod has served so far (``serverStatus.opcounters``, all kinds)."""
    status = await admin.admin.command("serverStatus")
    return sum(int(count) for count in status["opcounters"].values())


async def _expect_line(process: asyncio.subprocess.Process, server: Server, start: bytes) -> bytes:
    assert process.stdout is not None
    line = await process.stdout.readline()
    if not line.startswith(start):
        raise server.failure(f"client process {process.pid} ended early (wrote {line[:200]!r})")
    return line


async def run_once(
    app: str,
    uri: str,
    args: argparse.Namespace,
    mongod_pid: int | None,
    folder: Path,
    seed: str,
) -> dict[str, Any]:
    """One app's turn: a fresh database, its server, the load, the numbers; then clean up.

    The clients' choices (the order of their requests, when they log in) follow ``seed``:
    both apps of a round get the same."""
    run = uuid.uuid4().hex[:10]
    database = f"mdb_bench_load_{app}_{run}"
    admin: AsyncMongoClient[Mapping[str, Any]] = AsyncMongoClient(uri)
    try:
        await admin.drop_database(database)
        server = await start_server(
            app, uri, database, args.workers, secrets.token_urlsafe(32), folder
        )
        try:
            await wait_until_ready(server, args.workers)
            rss_start = [rss_bytes(pid) for pid in server.workers]
            measured = await run_clients(server, args, run, mongod_pid, admin, seed)
            rss_end = [rss_bytes(pid) for pid in server.workers]
        finally:
            await stop_server(server)
        stored = await admin[database][ITEM_COLLECTIONS[app]].count_documents({})
    finally:
        with contextlib.suppress(PyMongoError):  # cleaning up must not hide the real error
            await admin.drop_database(database)
        await admin.close()
    return summarize_run(measured, rss_start, rss_end, stored, server.workers)


def summarize_run(
    measured: Mapping[str, Any],
    rss_start: Sequence[int],
    rss_end: Sequence[int],
    stored: int,
    workers: Sequence[int],
) -> dict[str, Any]:
    """One turn's numbers from the client processes' results."""
    results = measured["results"]
    window = merge([result["window"] for result in results])
    seconds = max(result["seconds"] for result in results)
    requests = sum(window["counts"].values())
    return {
        "requests": requests,
        "seconds": seconds,
        "rate": requests / seconds,
        "counts": window["counts"],
        "histograms": window["histograms"],
        "errors": window["errors"],
        "setup": merge([result["setup"] for result in results]),
        "setup_seconds": measured["setup_seconds"],
        "client_cpu_seconds": sum(result["cpu_seconds"] for result in results),
        "worker_cpu_seconds": measured["worker_cpu_seconds"],
        "mongod_cpu_seconds": measured["mongod_cpu_seconds"],
        "worker_cpu_ms_per_request": 1000 * measured["worker_cpu_seconds"] / max(requests, 1),
        "server_operations_per_request": measured["server_operations"] / max(requests, 1),
        "workers": [
            {
                "pid": pid,
                "rss_start": start,
                "rss_end": end,
                "cpu_seconds": measured["worker_cpu_by_pid"][pid],
                "connections": sum(
                    result["connections_by_worker"].get(str(pid), 0) for result in results
                ),
            }
            for pid, start, end in zip(workers, rss_start, rss_end, strict=True)
        ],
        "items_held": sum(result["items_held"] for result in results),
        "items_stored": stored,
    }


def merge(tallies: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several tallies (counts, histograms, errors) added up."""
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    histograms: dict[str, Counter[int]] = {}
    for tally in tallies:
        counts.update(tally["counts"])
        errors.update(tally["errors"])
        for kind, buckets in tally["histograms"].items():
            histograms.setdefault(kind, Counter()).update(
                {int(bucket): count for bucket, count in buckets.items()}
            )
    return {
        "counts": dict(counts),
        "errors": dict(errors),
        "histograms": {kind: dict(buckets) for kind, buckets in histograms.items()},
    }


def percentile(histogram: Mapping[int, int], fraction: float) -> float | None:
    """The ``fraction`` quantile of a latency histogram, in milliseconds."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = fraction * total, 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return math.exp((bucket + 0.5) / BUCKETS_PER_E) / 1000
    return None


def summarize_app(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An app's turns together: median rate, latencies over every request, summed errors."""
    tallies = merge(runs)
    histograms = {kind: Counter(buckets) for kind, buckets in tallies["histograms"].items()}
    overall: Counter[int] = sum(histograms.values(), Counter())
    latency = {
        kind: {
            "requests": tallies["counts"].get(kind, 0),
            "p50_ms": percentile(histograms.get(kind, {}), 0.5),
            "p99_ms": percentile(histograms.get(kind, {}), 0.99),
        }
        for kind in KINDS
    }
    latency["overall"] = {
        "requests": sum(tallies["counts"].values()),
        "p50_ms": percentile(overall, 0.5),
        "p99_ms": percentile(overall, 0.99),
    }
    setup = merge([run["setup"] for run in runs])
    register = Counter(setup["histograms"].get("register", {}))
    return {
        "rate": statistics.median(run["rate"] for run in runs),
        "rates": [run["rate"] for run in runs],
        "latency": latency,
        "register": {
            "requests": setup["counts"].get("register", 0),
            "p50_ms": percentile(register, 0.5),
            "p99_ms": percentile(register, 0.99),
        },
        "errors": {**setup["errors"], **tallies["errors"]},
        "runs": [
            {key: run[key] for key in run if key not in ("histograms", "setup")} for run in runs
        ],
    }


async def measure(uri: str, args: argparse.Namespace, mongod_pid: int | None) -> dict[str, Any]:
    """Every app's turns, alternating; the report."""
    turns: dict[str, list[dict[str, Any]]] = {app: [] for app in APPS}
    with tempfile.TemporaryDirectory(prefix="mdb_bench_load_") as folder:
        for number in range(args.rounds):
            seed = f"round {number}"
            for app in APPS:
                turns[app].append(await run_once(app, uri, args, mongod_pid, Path(folder), seed))
    apps = {app: summarize_app(turns[app]) for app in APPS}
    return {
        "settings": {
            key: getattr(args, key)
            for key in ("clients", "duration", "rounds", "workers", "client_processes")
        }
        | {"login_every": args.login_every, "seed_items": args.seed_items},
        "apps": apps,
        "engine_over_plain": apps["engine"]["rate"] / apps["plain"]["rate"],
        "round_ratios": [
            engine["rate"] / plain["rate"]
            for plain, engine in zip(turns["plain"], turns["engine"], strict=True)
        ],
    }


def missed_targets(report: Mapping[str, Any]) -> list[str]:
    """What missed a target: errors on either app, a ratio under 0.9, lost items."""
    missed = []
    for app in APPS:
        summary = report["apps"][app]
        errors = sum(summary["errors"].values())
        if errors:
            missed.append(f"{app}: {errors:,} errors")
        for run in summary["runs"]:
            if run["items_stored"] != run["items_held"]:
                stored, held = run["items_stored"], run["items_held"]
                missed.append(f"{app}: {stored:,} items stored, clients hold {held:,}")
    if report["engine_over_plain"] < RATIO_TARGET:
        missed.append(f"engine / plain {report['engine_over_plain']:.2f} < {RATIO_TARGET}")
    return missed


def render(report: Mapping[str, Any]) -> str:
    """The report as Markdown tables."""
    settings, apps = report["settings"], report["apps"]
    lines = [
        f"HTTP under load: {settings['clients']} clients ({settings['client_processes']} "
        f"processes) for {settings['duration']} s per turn, {settings['workers']} workers per "
        f"app, {settings['rounds']} rounds (plain, engine, ...); a log-in every "
        f"{settings['login_every']} requests per client.",
        "",
        "| app | requests / s | per round | ratio to plain | errors | clients' CPU | "
        "workers' CPU | mongod CPU | workers' CPU / request | mongod ops / request |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for app in APPS:
        summary = apps[app]
        ratio = report["engine_over_plain"] if app == "engine" else 1.0
        lines.append(
            f"| {app} | {summary['rate']:,.0f} | "
            + ", ".join(f"{rate:,.0f}" for rate in summary["rates"])
            + f" | {ratio:.2f} | {sum(summary['errors'].values()):,} | "
            + " | ".join(_cpu_share(summary["runs"], key) for key in _CPU_KEYS)
            + f" | {_median(summary['runs'], 'worker_cpu_ms_per_request'):.2f} ms"
            + f" | {_median(summary['runs'], 'server_operations_per_request'):.2f} |"
        )
    lines += ["", "Latency, p50 / p99 in ms (requests):", ""]
    kinds = [*KINDS, "overall"]
    lines += ["| app | " + " | ".join(kinds) + " | register (set-up) |"]
    lines += ["|---|" + "---:|" * (len(kinds) + 1)]
    for app in APPS:
        summary = apps[app]
        cells = [_latency(summary["latency"][kind]) for kind in kinds]
        lines.append(f"| {app} | " + " | ".join(cells) + f" | {_latency(summary['register'])} |")
    lines += [
        "",
        "Per worker and round: RSS in MB before → after the load, CPU share during the load, "
        "client connections:",
        "",
    ]
    for app in APPS:
        memory = "; ".join(
            ", ".join(
                f"{worker['rss_start'] / 2**20:,.0f} → {worker['rss_end'] / 2**20:,.0f} MB "
                f"{worker['cpu_seconds'] / run['seconds'] * 100:.0f} % "
                f"{worker['connections']}"
                for worker in run["workers"]
            )
            for run in apps[app]["runs"]
        )
        lines.append(f"- {app}: {memory}")
    for app in APPS:
        if apps[app]["errors"]:
            errors = ", ".join(f"{kind} × {count:,}" for kind, count in apps[app]["errors"].items())
            lines.append(f"- {app} errors: {errors}")
    rounds = ", ".join(f"{ratio:.2f}" for ratio in report["round_ratios"])
    lines += ["", f"engine / plain: {report['engine_over_plain']:.2f} (rounds: {rounds})", ""]
    missed = missed_targets(report)
    lines.append(f"Targets missed: {'; '.join(missed)}" if missed else "All targets met.")
    return "\n".join(lines)


_CPU_KEYS = ("client_cpu_seconds", "worker_cpu_seconds", "mongod_cpu_seconds")


def _median(runs: Sequence[Mapping[str, Any]], key: str) -> float:
    return statistics.median(float(run[key]) for run in runs)


def _cpu_share(runs: Sequence[Mapping[str, Any]], key: str) -> str:
    """CPU seconds per second of load, as % of one core (median over rounds)."""
    shares = [run[key] / run["seconds"] for run in runs if run[key] is not None]
    return f"{statistics.median(shares) * 100:.0f} %" if shares else "n/a"


def _latency(row: Mapping[str, Any]) -> str:
    if not row["requests"]:
        return "–"
    return f"{row['p50_ms']:.1f} / {row['p99_ms']:.1f} ({row['requests']:,})"


def _environment() -> dict[str, Any]:
    import pymongo
    import uvicorn

    from mdb_engine import __version__

    return {
        "mdb_engine": __version__,
        "pymongo": pymongo.version,
        "uvicorn": uvicorn.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.mongo_uri:
        return await measure(args.mongo_uri, args, None)
    from mdb_engine.embedded import LocalMongod

    async with LocalMongod() as mongod:
        return await measure(mongod.uri, args, mongod.pid)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=_positive, default=200, help="default 200")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per turn (60)")
    parser.add_argument("--rounds", type=_positive, default=2, help="turns per app (2)")
    parser.add_argument("--workers", type=_positive, default=2, help="per server (2)")
    parser.add_argument("--client-processes", type=_positive, default=2, help="default 2")
    parser.add_argument(
        "--login-every", type=_positive, default=1000, help="requests per client between log-ins"
    )
    parser.add_argument("--seed-items", type=_positive, default=5, help="items per client")
    parser.add_argument("--mongo-uri", help="an existing MongoDB (default: a local mongod)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 0 even when a target is missed."""
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # clients' sockets, inherited
    if soft != resource.RLIM_INFINITY and soft < 4 * args.clients + 512:
        wanted = 4 * args.clients + 512
        resource.setrlimit(
            resource.RLIMIT_NOFILE,
            (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard),
        )
    load_before = os.getloadavg()[0]
    report = asyncio.run(_run(args))
    report["missed"] = missed_targets(report)
    report["environment"] = {**_environment(), "load_average": [load_before, os.getloadavg()[0]]}
    text = render(report)
    sys.stdout.write(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
