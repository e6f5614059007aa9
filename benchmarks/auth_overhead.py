"""What auth costs a request: an authenticated, authorized endpoint against the same one open.

One process, one mongod, one FastAPI app served through ``httpx.ASGITransport`` (no network),
on one engine app whose manifest declares app users and a Casbin RBAC policy. Three endpoints
do the same work, one scoped ``find_one`` by ``_id`` returning the document's title:

- ``open``: ``GET /open/{n}``, no auth;
- ``authenticated``: ``GET /authenticated/{n}``, ``Depends(get_current_user)`` only (the
  token, then the session: looked up in MongoDB once, then answered from memory that a change
  stream keeps true);
- ``guarded``: ``GET /guarded/{n}``, the user and ``authz.check(...)`` of the app's provider
  (the user got the ``reader`` role at sign-up).

The requests go one at a time; the contenders take turns request by request, starting with a
different one each time, after warm-up rounds. The steps of auth are also timed as direct
calls in the same turns (``authenticate`` as requests call it, the uncached token decode and
session lookup it mostly avoids, the policy check, and the ``find_one``), so the source of
the ratio is visible. Printed: the median latency of each, ``guarded / open``
(target ≤ 1.3) and ``authenticated / open``, with 95% bootstrap intervals over rounds.

Usage: ``python benchmarks/auth_overhead.py [--rounds N] [--requests-per-round M] [--uri URI]
[--json]``. Without ``--uri`` a local mongod is started in a temporary directory; either way
the benchmark's fresh database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

import fastapi
import httpx
import pymongo
from fastapi import Depends, FastAPI, HTTPException
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from mdb_engine import MongoDBEngine, __version__
from mdb_engine.auth import (
    AppAuth,
    AuthorizationProvider,
    get_authz_provider,
    get_current_user,
    setup_auth_from_manifest,
)

__all__ = ["CONTENDERS", "MANIFEST", "STEPS", "build_app", "main", "render"]

APP = "bench"
MANIFEST: Mapping[str, Any] = {
    "schema_version": "2.0",
    "slug": APP,
    "name": "Bench",
    "auth": {
        "policy": {
            "provider": "casbin",
            "required": True,
            "authorization": {
                "model": "rbac",
                "initial_policies": [["reader", "items", "read"]],
                "link_users_roles": True,
                "default_roles": ["reader"],
            },
        },
        "users": {"enabled": True, "strategy": "app_users"},
    },
}
DOCUMENTS = 1_000
WARMUP_ROUNDS = 2
BOOTSTRAP = 200  # resamples for the 95% intervals of the ratios
TARGET = 1.3  # guarded / open (issue 5, item 9)
CONTENDERS = ("open", "authenticated", "guarded")
STEPS = (
    "find_one",
    "authenticate",
    "token decode (uncached)",
    "session lookup (uncached)",
    "policy check",
)

Probe = Callable[[int], Awaitable[bool]]  # one timed call for document n; True if it succeeded
Rounds = list[list[int]]  # latencies in nanoseconds, one list per round


def build_app(engine: MongoDBEngine) -> FastAPI:
    """The FastAPI app: the same lookup behind no auth, authentication, and both."""
    app = FastAPI()
    items = engine.get_scoped_db(APP).items

    async def title_of(n: int) -> dict[str, str]:
        document = await items.find_one({"_id": n})
        if document is None:
            raise HTTPException(status_code=404)
        return {"title": document["title"]}

    @app.get("/open/{n}")
    async def open_item(n: int) -> dict[str, str]:
        return await title_of(n)

    @app.get("/authenticated/{n}")
    async def authenticated_item(
        n: int, user: Annotated[dict[str, Any], Depends(get_current_user)]
    ) -> dict[str, str]:
        return await title_of(n)

    @app.get("/guarded/{n}")
    async def guarded_item(
        n: int,
        user: Annotated[dict[str, Any], Depends(get_current_user)],
        authz: Annotated[AuthorizationProvider, Depends(get_authz_provider)],
    ) -> dict[str, str]:
        if not await authz.check(subject=user["email"], resource="items", action="read", user=user):
            raise HTTPException(status_code=403)
        return await title_of(n)

    return app


async def sign_up(client: httpx.AsyncClient) -> str:
    """Register a user through ``POST /auth/register``; its access token."""
    credentials = {"email": "reader@bench.example", "password": secrets.token_urlsafe(16)}
    response = await client.post("/auth/register", json=credentials)
    if response.status_code != 201:
        raise RuntimeError(f"sign-up answered {response.status_code}: {response.text}")
    token: str = response.json()["access_token"]
    return token


def _http_probes(client: httpx.AsyncClient, headers: Mapping[str, str]) -> dict[str, Probe]:
    def probe(contender: str) -> Probe:
        async def call(n: int) -> bool:
            response = await client.get(f"/{contender}/{n}", headers=headers)
            return response.status_code == 200

        return call

    return {contender: probe(contender) for contender in CONTENDERS}


async def _step_probes(engine: MongoDBEngine, app_auth: AppAuth, token: str) -> dict[str, Probe]:
    items = engine.get_scoped_db(APP).items
    user = await app_auth.authenticate(token)
    provider = app_auth.provider
    if provider is None:
        raise RuntimeError("the manifest's policy built no authorization provider")

    async def find_one(n: int) -> bool:
        return await items.find_one({"_id": n}) is not None

    async def authenticate(n: int) -> bool:
        return (await app_auth.authenticate(token))["session_id"] == user["session_id"]

    async def token_check(n: int) -> bool:
        return bool(app_auth.tokens.verify(token, APP).get("sid") == user["session_id"])

    async def session_lookup(n: int) -> bool:
        return await app_auth.sessions.get_active(APP, user["session_id"]) is not None

    async def policy_check(n: int) -> bool:
        return await provider.check(user["email"], "items", "read", user=user)

    probes = (find_one, authenticate, token_check, session_lookup, policy_check)
    return dict(zip(STEPS, probes, strict=True))


async def run_rounds(
    probes: Mapping[str, Probe], rounds: int, calls: int, rng: random.Random
) -> tuple[dict[str, Rounds], dict[str, int]]:
    """Warm up, then time ``rounds`` rounds; the samples by probe and round, and the failures.

    In each round every probe is called once per document, the probes taking turns from a
    rotating start, so they share the machine's state (load drifts within seconds).
    """
    samples: dict[str, Rounds] = {name: [] for name in probes}
    failures = dict.fromkeys(probes, 0)
    turns = list(probes.items())
    gc.collect()
    gc.freeze()  # the set-up's objects stay out of the collections from here on
    try:
        for number in range(WARMUP_ROUNDS + rounds):
            is_timed = number >= WARMUP_ROUNDS
            round_samples: dict[str, list[int]] = {name: [] for name in probes}
            gc.collect()  # cheap, thanks to the freeze; keeps collections out of the round
            for position in range(calls):
                n = rng.randrange(DOCUMENTS)
                shift = (number + position) % len(turns)
                for name, probe in turns[shift:] + turns[:shift]:
                    started = time.perf_counter_ns()
                    succeeded = await probe(n)
                    round_samples[name].append(time.perf_counter_ns() - started)
                    if is_timed and not succeeded:
                        failures[name] += 1
            if is_timed:
                for name, values in round_samples.items():
                    samples[name].append(values)
    finally:
        gc.unfreeze()
    return samples, failures


def _summary(rounds: Rounds, failures: int) -> dict[str, Any]:
    values = [value / 1000 for samples in rounds for value in samples]
    if len(values) < 2:
        median = statistics.median(values)
        p25 = p75 = median
    else:
        p25, median, p75 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": median, "p25": p25, "p75": p75, "calls": len(values), "failures": failures}


def ratio_interval(
    numerator: Rounds, denominator: Rounds, rng: random.Random, resamples: int = BOOTSTRAP
) -> list[float]:
    """A 95% bootstrap interval of median(numerator) / median(denominator), resampling whole
    rounds so that the pairing of the contenders within a round is kept."""
    count = len(numerator)
    ratios = []
    for _ in range(resamples):
        chosen = [rng.randrange(count) for _ in range(count)]
        top = statistics.median(value for index in chosen for value in numerator[index])
        bottom = statistics.median(value for index in chosen for value in denominator[index])
        ratios.append(top / bottom)
    ratios.sort()
    return [ratios[int(0.025 * (resamples - 1))], ratios[int(0.975 * (resamples - 1))]]


async def measure(uri: str, rounds: int, calls: int, seed: int) -> dict[str, Any]:
    """Set up the app on a fresh database, run the rounds, drop the database; the report."""
    database = f"mdb_bench_{uuid.uuid4().hex[:12]}"
    # A throwaway signing secret: the benchmark issues and checks its own tokens only.
    engine = MongoDBEngine(uri, database, secret_key=secrets.token_urlsafe(32))
    admin: AsyncMongoClient[Mapping[str, Any]] = AsyncMongoClient(uri)
    rng = random.Random(seed)
    try:
        try:
            await engine.initialize()
            await engine.register_app(dict(MANIFEST))
            await engine.get_scoped_db(APP).items.insert_many(
                [{"_id": n, "title": f"item {n}"} for n in range(DOCUMENTS)]
            )
            app = build_app(engine)
            app_auth = await setup_auth_from_manifest(app, engine, APP)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                token = await sign_up(client)
                probes = {
                    **_http_probes(client, {"Authorization": f"Bearer {token}"}),
                    **await _step_probes(engine, app_auth, token),
                }
                samples, failures = await run_rounds(probes, rounds, calls, rng)
        finally:
            await engine.shutdown()  # first: its policy watcher reads the database
    finally:
        with contextlib.suppress(PyMongoError):  # cleaning up must not hide the real error
            await admin.drop_database(database)
        await admin.close()
    latency = {name: _summary(samples[name], failures[name]) for name in probes}
    open_median = latency["open"]["median"]
    return {
        "rounds": rounds,
        "requests_per_round": calls,
        "documents": DOCUMENTS,
        "latency_us": {name: latency[name] for name in CONTENDERS},
        "steps_us": {name: latency[name] for name in STEPS},
        "guarded_over_open": latency["guarded"]["median"] / open_median,
        "guarded_over_open_interval": ratio_interval(samples["guarded"], samples["open"], rng),
        "authenticated_over_open": latency["authenticated"]["median"] / open_median,
        "authenticated_over_open_interval": ratio_interval(
            samples["authenticated"], samples["open"], rng
        ),
        "target": TARGET,
    }


def missed_targets(report: Mapping[str, Any]) -> list[str]:
    """The missed target and any failed request or step, one line each."""
    missed = []
    ratio = report["guarded_over_open"]
    if not ratio <= report["target"]:
        low, high = report["guarded_over_open_interval"]
        missed.append(f"guarded / open {ratio:.2f} [{low:.2f}, {high:.2f}] > {report['target']}")
    for name, summary in (*report["latency_us"].items(), *report["steps_us"].items()):
        if summary["failures"]:
            missed.append(f"{name}: {summary['failures']} of {summary['calls']} calls failed")
    return missed


def render(report: Mapping[str, Any]) -> str:
    """The report as Markdown: latencies, ratios, the steps, then the missed targets."""
    latency, steps = report["latency_us"], report["steps_us"]
    ratios = {
        "open": "1.00",
        "authenticated": _ratio(report, "authenticated_over_open"),
        "guarded": _ratio(report, "guarded_over_open"),
    }
    lines = [
        f"Auth overhead: {report['rounds']} rounds × {report['requests_per_round']} requests "
        "per endpoint, one at a time through httpx.ASGITransport. Latency per request in µs: "
        "median (p25–p75); ratios of the medians [95% bootstrap interval].",
        "",
        "| endpoint | latency | ratio to open | target |",
        "|---|---:|---:|---:|",
    ]
    for name in CONTENDERS:
        target = f"≤ {report['target']}" if name == "guarded" else ""
        lines.append(f"| {name} | {_cell(latency[name])} | {ratios[name]} | {target} |")
    authentication = latency["authenticated"]["median"] - latency["open"]["median"]
    authorization = latency["guarded"]["median"] - latency["authenticated"]["median"]
    lines += [
        "",
        f"Added by auth: authentication {authentication:+,.0f} µs, "
        f"authorization {authorization:+,.0f} µs. The steps, called directly:",
        "",
        "| step | latency |",
        "|---|---:|",
        *(f"| {name} | {_cell(steps[name])} |" for name in STEPS),
        "",
    ]
    missed = missed_targets(report)
    lines.append(f"Targets missed: {'; '.join(missed)}" if missed else "All targets met.")
    return "\n".join(lines)


def _cell(summary: Mapping[str, Any]) -> str:
    return f"{summary['median']:,.0f} ({summary['p25']:,.0f}–{summary['p75']:,.0f})"


def _ratio(report: Mapping[str, Any], key: str) -> str:
    low, high = report[f"{key}_interval"]
    return f"{report[key]:.2f} [{low:.2f}, {high:.2f}]"


def _environment() -> dict[str, Any]:
    return {
        "mdb_engine": __version__,
        "pymongo": pymongo.version,
        "fastapi": fastapi.__version__,
        "httpx": httpx.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.uri:
        return await measure(args.uri, args.rounds, args.requests_per_round, args.seed)
    from mdb_engine.embedded import LocalMongod

    async with LocalMongod() as mongod:
        return await measure(mongod.uri, args.rounds, args.requests_per_round, args.seed)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=_positive, default=40, help="timed rounds (default 40)")
    parser.add_argument(
        "--requests-per-round",
        type=_positive,
        default=50,
        help="requests per endpoint in each round (default 50)",
    )
    parser.add_argument("--uri", help="an existing MongoDB (default: start a local mongod)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the document choices")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 0 even when a target is missed."""
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    report = asyncio.run(_run(args))
    report["missed"] = missed_targets(report)
    # Other processes on the machine spoil the medians: the 1-minute load, before and after.
    report["environment"] = {**_environment(), "load_average": [load_before, os.getloadavg()[0]]}
    sys.stdout.write((json.dumps(report, indent=2) if args.json else render(report)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
