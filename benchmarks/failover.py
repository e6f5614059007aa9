"""Failover under write load: the primary of a 3-member replica set is SIGKILLed mid-run.

A ``LocalReplicaSet`` of 3 mongods on loopback; the app ``benchmarks/failover_app/items`` is
served by ``mdb-engine serve --workers 2``, with the engine's server selection timeout (how
long a request waits for a primary before its 503) in the URI's ``serverSelectionTimeoutMS``
option. ``--writers`` concurrent
clients POST items for ``--duration`` seconds while a poller reads ``/ready``; the primary is
SIGKILLed at ``duration / 3`` (``--kills N``: at ``duration * i / (N + 2)``), and each killed
member is restarted once a new primary is elected and waited for until it is a secondary
again.

Every request's outcome is recorded: ``acknowledged`` (201 with an id), ``refused`` (503 with
``Retry-After``), ``error`` (anything else, including a 503 without ``Retry-After``) or
``hung`` (no answer within ``server_selection_timeout + 5 s``). Afterwards every acknowledged
id is read back from the primary with readConcern ``majority``; a missing one is a lost
acknowledged write. The workers' process ids (in every answer) and uvicorn's log show whether
a worker was restarted. Targets: 0 lost, 0 errors, 0 hung, no worker restarted, writes
acknowledged again after every election.

Usage: ``python benchmarks/failover.py [--duration S] [--writers N] [--kills N]
[--workers N] [--server-selection-timeout-ms MS] [--election-timeout-ms MS]
[--heartbeat-interval-ms MS] [--json PATH]``. The exit code is 0 even when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pymongo
import uvicorn
from _processes import free_port, stop_process_group
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.read_concern import ReadConcern

from mdb_engine import __version__
from mdb_engine.embedded import LocalReplicaSet

__all__ = [
    "FailoverRun",
    "FailoverSettings",
    "Outcome",
    "main",
    "missed_targets",
    "render",
    "run_failover",
    "summarize",
]

BENCHMARKS = Path(__file__).resolve().parent
APPS_DIR = BENCHMARKS / "failover_app"
ITEMS_URL = "/apps/items/items"
PID_URL = "/apps/items/pid"
COLLECTION = "items_items"  # app "items", collection "items"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
STARTED_LINE = "Started server process"
KINDS = ("acknowledged", "refused", "error", "hung")


@dataclass(frozen=True)
class FailoverSettings:
    """What to run: load, faults, and the timeouts that shape a failover."""

    duration: float = 60.0
    writers: int = 16
    kills: int = 1
    workers: int = 2
    server_selection_timeout_ms: int = 10_000
    election_timeout_ms: int = 10_000  # MongoDB's default electionTimeoutMillis
    heartbeat_interval_ms: int = 2_000  # MongoDB's default heartbeatIntervalMillis
    ready_interval: float = 0.25

    @property
    def request_bound(self) -> float:
        """Seconds after which a request counts as hung: server selection gave up 5 s ago."""
        return self.server_selection_timeout_ms / 1000 + 5

    def kill_times(self) -> list[float]:
        """When to kill the primary, in seconds since the load started."""
        return [self.duration * i / (self.kills + 2) for i in range(1, self.kills + 1)]


@dataclass(frozen=True)
class Outcome:
    """One request: when it ran (seconds since the load started) and how it ended."""

    started: float
    ended: float
    kind: str  # one of KINDS
    status: int | None = None
    item_id: str | None = None
    pid: int | None = None
    has_retry_after: bool = False
    detail: str = ""


@dataclass
class Kill:
    """One SIGKILL of the primary and what followed, in seconds since the load started."""

    member: int
    host: str
    at: float
    new_primary: int | None = None
    elected_at: float | None = None  # when LocalReplicaSet saw the new primary (polled)
    rejoined_at: float | None = None  # when the killed member was a secondary again


@dataclass
class FailoverRun:
    """Everything one run recorded."""

    settings: FailoverSettings
    outcomes: list[Outcome] = field(default_factory=list)
    readiness: list[tuple[float, int | None]] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    warm_up_pids: set[int] = field(default_factory=set)
    missing_ids: list[str] = field(default_factory=list)
    documents: int = 0
    default_write_concern: dict[str, Any] = field(default_factory=dict)
    worker_starts: int = 0
    server_alive: bool = False


class Server:
    """The uvicorn process (a supervisor and its workers) on a loopback port."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def failure(self, what: str) -> RuntimeError:
        """An error saying ``what``, with the end of the server's log."""
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return RuntimeError(f"the server on port {self.port} {what}; its log ends:\n{tail}")

    def started_workers(self) -> int:
        """How many worker processes uvicorn started so far (one log line each)."""
        return self.log.read_text(errors="replace").count(STARTED_LINE)


async def start_server(uri: str, database: str, settings: FailoverSettings, folder: Path) -> Server:
    """Start ``mdb-engine serve`` on the items app with ``settings.workers`` workers."""
    port = free_port()
    log = folder / "server.log"
    separator = "&" if "?" in uri else "/?"
    timeout_ms = settings.server_selection_timeout_ms
    env = {**os.environ, "MDB_ENGINE_SECRET_KEY": uuid.uuid4().hex}
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "mdb_engine.cli", "serve", str(APPS_DIR)),
            *("--mongo-uri", f"{uri}{separator}serverSelectionTimeoutMS={timeout_ms}"),
            *("--db", database, "--port", str(port), "--workers", str(settings.workers)),
            cwd=folder,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,  # its own group, so a stuck worker can be killed with it
        )
    return Server(process, port, log)


async def wait_until_serving(http: httpx.AsyncClient, server: Server, workers: int) -> set[int]:
    """Wait until every worker serves the app and the host is ready; the workers' pids."""
    deadline = time.monotonic() + START_TIMEOUT
    pids: set[int] = set()
    while True:
        if server.process.returncode is not None:
            raise server.failure(f"exited with {server.process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            ready = await http.get(f"{server.url}/ready", timeout=10)
            # A new connection per probe, so that the kernel hands probes to every worker.
            probes = [
                http.get(f"{server.url}{PID_URL}", headers={"Connection": "close"}, timeout=10)
                for _ in range(4 * workers)
            ]
            for answer in await asyncio.gather(*probes, return_exceptions=True):
                if isinstance(answer, httpx.Response) and answer.status_code == 200:
                    pids.add(answer.json()["pid"])
            if ready.status_code == 200 and len(pids) >= workers:
                return pids
        if time.monotonic() > deadline:
            raise server.failure(f"did not serve within {START_TIMEOUT:g} s (pids seen: {pids})")
        await asyncio.sleep(0.2)


async def stop_server(server: Server) -> None:
    """SIGTERM the supervisor (it stops its workers); SIGKILL the group after a while."""
    await stop_process_group(server.process, STOP_TIMEOUT, signal.SIGTERM)


async def write_items(
    http: httpx.AsyncClient, url: str, writer: int, until: float, run: FailoverRun, t0: float
) -> None:
    """One client: POST items back to back until ``until``, recording every outcome."""
    bound = run.settings.request_bound
    sequence = 0
    while time.monotonic() - t0 < until:
        started = time.monotonic() - t0
        try:
            response = await asyncio.wait_for(
                http.post(url, json={"writer": writer, "seq": sequence}), bound
            )
        except asyncio.TimeoutError:
            run.outcomes.append(Outcome(started, time.monotonic() - t0, "hung"))
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"[:200]
            run.outcomes.append(Outcome(started, time.monotonic() - t0, "error", detail=detail))
        else:
            run.outcomes.append(classify(response, started, time.monotonic() - t0))
        sequence += 1


def classify(response: httpx.Response, started: float, ended: float) -> Outcome:
    """The outcome of an answered POST."""
    has_retry_after = "retry-after" in response.headers
    status = response.status_code
    if status == 201:
        body = response.json()
        if isinstance(body.get("id"), str):
            return Outcome(started, ended, "acknowledged", status, body["id"], body.get("pid"))
    if status == 503 and has_retry_after:
        return Outcome(started, ended, "refused", status, has_retry_after=True)
    detail = response.text[:200]
    return Outcome(started, ended, "error", status, has_retry_after=has_retry_after, detail=detail)


async def poll_readiness(
    http: httpx.AsyncClient, url: str, until: float, run: FailoverRun, t0: float
) -> None:
    """GET ``/ready`` every ``ready_interval`` seconds; record each status (None: no answer)."""
    while time.monotonic() - t0 < until:
        status: int | None = None
        with contextlib.suppress(httpx.HTTPError, asyncio.TimeoutError):
            answer = await asyncio.wait_for(http.get(url), run.settings.request_bound)
            status = answer.status_code
        run.readiness.append((time.monotonic() - t0, status))
        await asyncio.sleep(run.settings.ready_interval)  # pacing of the poller


async def kill_primaries(replica_set: LocalReplicaSet, run: FailoverRun, t0: float) -> None:
    """At each kill time: SIGKILL the primary, wait for a new one, restart the killed member
    and wait until it is a secondary again."""
    for at in run.settings.kill_times():
        await asyncio.sleep(max(0.0, at - (time.monotonic() - t0)))  # the fault's schedule
        member = await asyncio.to_thread(replica_set.wait_for_primary, 120.0)
        kill = Kill(member, replica_set.host(member), time.monotonic() - t0)
        run.kills.append(kill)
        await asyncio.to_thread(replica_set.kill, member)
        kill.new_primary = await asyncio.to_thread(replica_set.wait_for_primary, 120.0)
        kill.elected_at = time.monotonic() - t0
        await asyncio.to_thread(replica_set.restart, member)
        await asyncio.to_thread(replica_set.wait_for_state, member, "SECONDARY", 120.0)
        kill.rejoined_at = time.monotonic() - t0


async def read_back(uri: str, database: str, run: FailoverRun) -> None:
    """Look every acknowledged id up on the primary with readConcern majority."""
    ids = [o.item_id for o in run.outcomes if o.kind == "acknowledged" and o.item_id]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=60_000
    )
    try:
        collection = client[database].get_collection(
            COLLECTION, read_concern=ReadConcern("majority")
        )
        found: set[str] = set()
        for start in range(0, len(ids), 1000):
            batch = [ObjectId(item_id) for item_id in ids[start : start + 1000]]
            cursor = collection.find({"_id": {"$in": batch}}, {"_id": 1})
            found.update(str(document["_id"]) for document in await cursor.to_list())
        run.missing_ids = [item_id for item_id in ids if item_id not in found]
        run.documents = await collection.count_documents({})
        defaults = await client.admin.command("getDefaultRWConcern")
        run.default_write_concern = {
            "write_concern": defaults.get("defaultWriteConcern"),
            "source": defaults.get("defaultWriteConcernSource"),
        }
    finally:
        await client.close()


async def run_failover(
    replica_set: LocalReplicaSet, settings: FailoverSettings, folder: Path
) -> FailoverRun:
    """Serve the app on ``replica_set``, write under load, kill primaries, check every id.

    ``folder`` receives the server's log (and is its working directory).
    """
    run = FailoverRun(settings)
    database = f"failover_{uuid.uuid4().hex[:8]}"
    server = await start_server(replica_set.uri, database, settings, folder)
    limits = httpx.Limits(max_connections=settings.writers + 8, max_keepalive_connections=None)
    try:
        async with httpx.AsyncClient(limits=limits, timeout=None) as http:
            run.warm_up_pids = await wait_until_serving(http, server, settings.workers)
            t0 = time.monotonic()
            url = f"{server.url}{ITEMS_URL}"
            tasks = [
                write_items(http, url, writer, settings.duration, run, t0)
                for writer in range(settings.writers)
            ]
            tasks.append(poll_readiness(http, f"{server.url}/ready", settings.duration, run, t0))
            tasks.append(kill_primaries(replica_set, run, t0))
            await asyncio.gather(*tasks)
        run.outcomes.sort(key=lambda outcome: outcome.started)
        run.server_alive = server.process.returncode is None
        run.worker_starts = server.started_workers()
    finally:
        await stop_server(server)
    await read_back(replica_set.uri, database, run)
    return run


def summarize(run: FailoverRun) -> dict[str, Any]:
    """The report: counts, lost writes, the 503 window, each election as clients saw it."""
    outcomes = run.outcomes
    counts = {kind: sum(1 for o in outcomes if o.kind == kind) for kind in KINDS}
    refused = [o for o in outcomes if o.kind == "refused"]
    first_kill = run.kills[0].at if run.kills else run.settings.duration
    last_election = max((k.elected_at or 0.0 for k in run.kills), default=0.0)
    pids_before = run.warm_up_pids | {
        o.pid for o in outcomes if o.kind == "acknowledged" and o.pid and o.ended < first_kill
    }
    pids_after = {
        o.pid for o in outcomes if o.kind == "acknowledged" and o.pid and o.started > last_election
    }
    acknowledged_latencies = [o.ended - o.started for o in outcomes if o.kind == "acknowledged"]
    return {
        "settings": {**asdict(run.settings), "request_bound_s": run.settings.request_bound},
        "requests": len(outcomes),
        **counts,
        "lost_acknowledged_writes": len(run.missing_ids),
        "lost_ids": run.missing_ids[:20],
        "documents_in_collection": run.documents,
        "default_write_concern": run.default_write_concern,
        "refused_window_s": (
            [round(refused[0].ended, 2), round(refused[-1].ended, 2)] if refused else None
        ),
        "refused_without_retry_after": sum(
            1 for o in outcomes if o.status == 503 and not o.has_retry_after
        ),
        "errors_seen": sorted({o.detail or str(o.status) for o in outcomes if o.kind == "error"})[
            :10
        ],
        "acknowledged_latency_s": _latencies(acknowledged_latencies),
        "acknowledged_before_first_kill_per_s": round(
            sum(1 for o in outcomes if o.kind == "acknowledged" and o.ended < first_kill)
            / max(first_kill, 1e-9),
            1,
        ),
        "acknowledged_after_last_election": sum(
            1 for o in outcomes if o.kind == "acknowledged" and o.started > last_election
        ),
        "kills": [_kill_report(kill, run) for kill in run.kills],
        "worker_pids_before": sorted(pids_before),
        "worker_pids_after": sorted(pids_after),
        "worker_starts": run.worker_starts,
        "server_alive": run.server_alive,
        "workers_restarted": (
            not run.server_alive
            or run.worker_starts != run.settings.workers
            or not pids_after <= pids_before
        ),
    }


def _latencies(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 4),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
        "max": round(ordered[-1], 4),
    }


def _kill_report(kill: Kill, run: FailoverRun) -> dict[str, Any]:
    """One election as the server and the clients saw it (seconds after the kill)."""
    after = [o for o in run.outcomes if o.ended >= kill.at]
    failures = [o for o in after if o.kind != "acknowledged"]
    first_failure = min((o.ended for o in failures), default=None)
    # The clients' outage: the longest time with no write acknowledged, around the kill.
    window_end = (kill.elected_at or kill.at) + run.settings.request_bound
    acknowledged = sorted(
        o.ended
        for o in run.outcomes
        if o.kind == "acknowledged" and kill.at - 1.0 <= o.ended <= window_end
    )
    outage = max((later - earlier for earlier, later in pairwise(acknowledged)), default=None)
    first_success_after_failure = (
        None
        if first_failure is None
        else min(
            (o.ended for o in after if o.kind == "acknowledged" and o.ended > first_failure),
            default=None,
        )
    )
    readiness = [(t, status) for t, status in run.readiness if t >= kill.at]
    not_ready = next((t for t, status in readiness if status != 200), None)
    ready_again = (
        None
        if not_ready is None
        else next((t for t, status in readiness if t > not_ready and status == 200), None)
    )
    return {
        "member": kill.member,
        "host": kill.host,
        "at_s": round(kill.at, 2),
        "new_primary": kill.new_primary,
        "election_s": _since(kill.at, kill.elected_at),
        "first_failure_s": _since(kill.at, first_failure),
        "first_failure_to_first_success_s": (
            None
            if first_failure is None or first_success_after_failure is None
            else round(first_success_after_failure - first_failure, 2)
        ),
        "no_write_acknowledged_s": None if outage is None else round(outage, 2),
        "readiness_503_s": _since(kill.at, not_ready),
        "readiness_200_again_s": _since(kill.at, ready_again),
        "killed_member_secondary_again_s": _since(kill.at, kill.rejoined_at),
    }


def _since(start: float, moment: float | None) -> float | None:
    return None if moment is None else round(moment - start, 2)


def missed_targets(report: Mapping[str, Any]) -> list[str]:
    """The targets the run missed, in words."""
    missed = []
    if report["lost_acknowledged_writes"]:
        missed.append(f"{report['lost_acknowledged_writes']} acknowledged writes lost (target 0)")
    if report["error"]:
        missed.append(f"{report['error']} errors (target 0)")
    if report["hung"]:
        missed.append(f"{report['hung']} requests hung (target 0)")
    if report["workers_restarted"]:
        missed.append("a worker was restarted (target: none)")
    if not report["acknowledged_after_last_election"]:
        missed.append("no write acknowledged after the last election")
    return missed


def render(report: Mapping[str, Any]) -> str:
    """The report as text."""
    settings = report["settings"]
    concern = report["default_write_concern"]
    lines = [
        f"Failover under write load: 3-member replica set, primary SIGKILLed "
        f"{len(report['kills'])} time(s)",
        f"{settings['duration']:g} s, {settings['writers']} writers, {settings['workers']} "
        f"workers; server_selection_timeout_ms {settings['server_selection_timeout_ms']}, "
        f"electionTimeoutMillis {settings['election_timeout_ms']}, heartbeatIntervalMillis "
        f"{settings['heartbeat_interval_ms']}",
        f"default write concern: {concern.get('write_concern')} ({concern.get('source')})",
        "",
        f"requests                         {report['requests']:>8,}",
        f"acknowledged (201 + id)          {report['acknowledged']:>8,}"
        f"   ({report['acknowledged_before_first_kill_per_s']:,}/s before the first kill)",
        f"lost acknowledged writes         {report['lost_acknowledged_writes']:>8,}"
        "   (target 0; every id read back with readConcern majority)",
        f"refused (503 + Retry-After)      {report['refused']:>8,}"
        + (
            f"   answered between {report['refused_window_s'][0]:.1f} s and "
            f"{report['refused_window_s'][1]:.1f} s"
            if report["refused_window_s"]
            else ""
        ),
        f"errors                           {report['error']:>8,}   (target 0)",
        f"{'hung (> ' + format(settings['request_bound_s'], 'g') + ' s)':<33}{report['hung']:>8,}"
        "   (target 0)",
        f"workers restarted                {'yes' if report['workers_restarted'] else 'no':>8}"
        f"   (pids {report['worker_pids_before']} before, {report['worker_pids_after']} after "
        f"the last election; {report['worker_starts']} worker starts)",
    ]
    latency = report["acknowledged_latency_s"]
    if latency:
        lines.append(
            f"acknowledged latency             p50 {latency['p50'] * 1000:,.0f} ms, "
            f"p99 {latency['p99'] * 1000:,.0f} ms, max {latency['max']:.1f} s"
        )
    for number, kill in enumerate(report["kills"], 1):
        lines += [
            "",
            f"kill {number} at {kill['at_s']:.1f} s: member {kill['member']} ({kill['host']});"
            f" member {kill['new_primary']} primary after {_seconds(kill['election_s'])}"
            " (polled by the set)",
            f"  clients: no write acknowledged for {_seconds(kill['no_write_acknowledged_s'])};"
            f" first failure answered at +{_seconds(kill['first_failure_s'])}, first success"
            f" {_seconds(kill['first_failure_to_first_success_s'])} after it",
            f"  /ready: 503 from +{_seconds(kill['readiness_503_s'])}, 200 again at"
            f" +{_seconds(kill['readiness_200_again_s'])}; killed member a secondary again at"
            f" +{_seconds(kill['killed_member_secondary_again_s'])}",
        ]
    if report["errors_seen"]:
        lines += ["", "errors seen:", *(f"  {error}" for error in report["errors_seen"])]
    missed = missed_targets(report)
    lines += ["", f"Targets missed: {'; '.join(missed)}" if missed else "All targets met."]
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def _environment() -> dict[str, Any]:
    return {
        "mdb_engine": __version__,
        "pymongo": pymongo.version,
        "uvicorn": uvicorn.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


async def _run(settings: FailoverSettings) -> dict[str, Any]:
    replica_set = LocalReplicaSet(
        members=3,
        election_timeout_ms=settings.election_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
    )
    await asyncio.to_thread(replica_set.start)
    try:
        with tempfile.TemporaryDirectory(prefix="mdb-failover-") as folder:
            run = await run_failover(replica_set, settings, Path(folder))
    finally:
        await asyncio.to_thread(replica_set.stop)
    return summarize(run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    defaults = FailoverSettings()
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds")
    parser.add_argument("--writers", type=_positive, default=defaults.writers)
    parser.add_argument("--kills", type=_positive, default=defaults.kills)
    parser.add_argument("--workers", type=_positive, default=defaults.workers)
    parser.add_argument(
        "--server-selection-timeout-ms",
        type=_positive,
        default=defaults.server_selection_timeout_ms,
    )
    parser.add_argument(
        "--election-timeout-ms", type=_positive, default=defaults.election_timeout_ms
    )
    parser.add_argument(
        "--heartbeat-interval-ms", type=_positive, default=defaults.heartbeat_interval_ms
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenario and print the report; 0 even when a target is missed."""
    args = parse_args(argv)
    settings = FailoverSettings(
        duration=args.duration,
        writers=args.writers,
        kills=args.kills,
        workers=args.workers,
        server_selection_timeout_ms=args.server_selection_timeout_ms,
        election_timeout_ms=args.election_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_interval_ms,
    )
    load_before = os.getloadavg()[0]
    report = asyncio.run(_run(settings))
    report["missed"] = missed_targets(report)
    report["environment"] = {**_environment(), "load_average": [load_before, os.getloadavg()[0]]}
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(render(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
