"""What index sync costs: the engine against direct ``createIndexes`` calls, cold and warm.

50 apps × 6 declared indexes (3 in each of 2 collections), on one mongod, in one process:

- ``direct``: per app, one ``create_indexes`` call per collection (collections at once) with
  the same specs, on a database without those indexes: the least a tool can send;
- ``cold``: ``engine.sync_indexes`` on the same kind of fresh database (it reads
  ``listCollections``/``listIndexes``, then sends the same ``createIndexes``);
- ``warm``: ``engine.sync_indexes`` again once every index exists (reads only, no command
  that builds anything).

Rounds alternate ``direct`` and ``cold`` (each on a fresh database, in a rotating order), and
every cold round is followed by a warm one. Printed: the median time of each, ``cold / direct``
(target ≤ 1.2) and ``warm / cold`` (target ≤ 0.1).

Usage: ``python benchmarks/index_sync.py [--apps N] [--rounds R] [--uri URI] [--json]``.
Without ``--uri`` a local mongod is started in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any

import pymongo
from pymongo import AsyncMongoClient

from mdb_engine import MongoDBEngine, __version__
from mdb_engine.core.manifest import AppManifest, parse_manifest
from mdb_engine.database.names import physical_name
from mdb_engine.indexes.spec import declare_index

__all__ = ["app_manifest", "main"]

COLD_TARGET = 1.2
WARM_TARGET = 0.1
INDEXES_PER_COLLECTION: Mapping[str, list[dict[str, Any]]] = {
    "items": [
        {"type": "regular", "keys": {"status": 1, "created_at": -1}, "name": "status_sort"},
        {"keys": {"email": 1}, "unique": True},
        {"type": "ttl", "keys": {"expires_at": 1}, "expireAfterSeconds": 3600},
    ],
    "events": [
        {"keys": {"kind": 1, "at": -1}},
        {"type": "text", "keys": {"message": "text"}},
        {"type": "geospatial", "keys": {"where": "2dsphere"}},
    ],
}

Client = AsyncMongoClient[Mapping[str, Any]]


def app_manifest(number: int) -> AppManifest:
    """App ``number`` of the benchmark: 6 indexes over 2 collections."""
    return parse_manifest(
        {
            "schema_version": "2.0",
            "slug": f"bench{number:03d}",
            "name": f"Benchmark app {number}",
            "managed_indexes": INDEXES_PER_COLLECTION,
        }
    )


async def direct(client: Client, database: str, manifests: Sequence[AppManifest]) -> None:
    """The baseline: the same specs through ``create_indexes``, nothing read first."""
    target = client[database]
    for manifest in manifests:
        await asyncio.gather(
            *(
                target[physical_name(manifest.slug, collection)].create_indexes(
                    [declare_index(spec, None).model() for spec in specs]
                )
                for collection, specs in manifest.managed_indexes.items()
            )
        )


async def engine_sync(engine: MongoDBEngine, manifests: Sequence[AppManifest]) -> None:
    """The engine: plan (reads) and apply, app after app."""
    for manifest in manifests:
        await engine.sync_indexes(manifest)


async def _timed(action: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


async def measure(uri: str, apps: int, rounds: int) -> dict[str, Any]:
    """Run the rounds; return the timings (seconds) and the ratios."""
    manifests = [app_manifest(number) for number in range(apps)]
    client: Client = AsyncMongoClient(uri)
    times: dict[str, list[float]] = {"direct": [], "cold": [], "warm": []}
    try:
        for round_number in range(rounds + 1):  # round 0 warms up the server and the driver
            order = ("direct", "cold") if round_number % 2 else ("cold", "direct")
            for contender in order:
                database = f"mdb_bench_{uuid.uuid4().hex[:10]}"
                try:
                    if contender == "direct":
                        elapsed = await _timed(partial(direct, client, database, manifests))
                        if round_number:
                            times["direct"].append(elapsed)
                        continue
                    async with MongoDBEngine(uri, database) as engine:
                        # Open the pool's connections first, as the direct client's are: a
                        # plan of an app outside the benchmark sends the same reads.
                        await engine.plan_indexes(app_manifest(apps))
                        cold = await _timed(partial(engine_sync, engine, manifests))
                        warm = await _timed(partial(engine_sync, engine, manifests))
                    if round_number:
                        times["cold"].append(cold)
                        times["warm"].append(warm)
                finally:
                    await client.drop_database(database)
    finally:
        await client.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "apps": apps,
        "indexes_per_app": sum(len(specs) for specs in INDEXES_PER_COLLECTION.values()),
        "rounds": rounds,
        "median_seconds": medians,
        "cold_over_direct": medians["cold"] / medians["direct"],
        "warm_over_cold": medians["warm"] / medians["cold"],
    }


def _environment() -> dict[str, Any]:
    return {
        "mdb_engine": __version__,
        "pymongo": pymongo.version,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


def render(report: Mapping[str, Any]) -> str:
    """The report as Markdown."""
    medians = report["median_seconds"]
    cold_ratio, warm_ratio = report["cold_over_direct"], report["warm_over_cold"]
    lines = [
        f"Index sync: {report['apps']} apps × {report['indexes_per_app']} indexes, "
        f"median of {report['rounds']} rounds",
        "",
        "| run | median | ratio | target |",
        "|---|---|---|---|",
        f"| direct createIndexes | {medians['direct'] * 1000:.1f} ms | 1.00 | |",
        f"| engine sync, cold | {medians['cold'] * 1000:.1f} ms | "
        f"{cold_ratio:.2f} × direct | ≤ {COLD_TARGET} |",
        f"| engine sync, warm | {medians['warm'] * 1000:.1f} ms | "
        f"{warm_ratio:.3f} × cold | ≤ {WARM_TARGET} |",
        "",
    ]
    missed = []
    if cold_ratio > COLD_TARGET:
        missed.append(f"cold / direct {cold_ratio:.2f} > {COLD_TARGET}")
    if warm_ratio > WARM_TARGET:
        missed.append(f"warm / cold {warm_ratio:.3f} > {WARM_TARGET}")
    lines.append(f"Targets missed: {'; '.join(missed)}" if missed else "All targets met.")
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.uri:
        return await measure(args.uri, args.apps, args.rounds)
    from mdb_engine.embedded import LocalMongod

    async with LocalMongod() as mongod:
        return await measure(mongod.uri, args.apps, args.rounds)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--apps", type=_positive, default=50, help="apps (default 50)")
    parser.add_argument("--rounds", type=_positive, default=5, help="timed rounds (default 5)")
    parser.add_argument("--uri", help="an existing MongoDB (default: start a local mongod)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; 0 even when a target is missed."""
    args = parse_args(argv)
    report = asyncio.run(_run(args))
    report["environment"] = _environment()
    sys.stdout.write((json.dumps(report, indent=2) if args.json else render(report)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
