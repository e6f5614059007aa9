"""What a scoped collection costs compared with raw PyMongo, operation by operation.

One process, one mongod, four contenders per operation, timed one call at a time in
interleaved rounds (each round runs every contender on the same keys, in a rotating order):

- ``raw``: an ``AsyncMongoClient`` sending the unscoped query to a plain collection holding
  the same documents without ``app_id`` (what the user would pay without the engine);
- ``raw scoped``: an ``AsyncMongoClient`` sending, by hand, exactly what the engine sends
  (the ``app_id`` predicate, the leading ``$match``, the tagged document) to a collection of
  tagged documents (what the server charges for scoping);
- ``scoped``: the engine's ``ScopedCollection``, as ``engine.get_scoped_db`` hands it out (every
  operation inside the engine's metrics observer);
- ``scoped, no observer``: the same app's collection from a bare ``ScopedDatabase`` (the default
  ``no_observer``), on the same physical collection.

``scoped / raw`` is the price of the engine for the user; ``scoped / raw scoped`` is the
wrapper's own cost, observer included; ``scoped / scoped, no observer`` (the "observer" column)
is the cost of timing and counting each operation. See docs/performance.md for the measured
table.

Usage: ``python benchmarks/scoped_overhead.py [--rounds N] [--ops-per-round M] [--uri URI]
[--json] [--server-time] [--prefixed-index]``. Without ``--uri`` a local mongod is started in
a temporary directory; with it, a fresh database is used and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from mdb_engine import MongoDBEngine, ScopedDatabase, __version__
from mdb_engine.database.fast_path import is_id_lookup
from mdb_engine.database.rewrite_pipeline import rewrite_pipeline
from mdb_engine.database.rewrite_update import rewrite_update
from mdb_engine.database.scope import scope_filter, tag_document

__all__ = ["OPERATIONS", "main"]

APP = "bench"
DOCUMENTS = 1_000
CATEGORIES = 10  # so `find` by category returns DOCUMENTS / CATEGORIES = 100 documents
KINDS = 7
WARMUP_ROUNDS = 2
BOOTSTRAP = 200  # resamples for the 95% intervals of the ratios
CONTENDERS = ("raw", "raw scoped", "scoped", "scoped, no observer")
# The name of each contender in the JSON rows (and of its field of Result).
JSON_NAMES = dict(
    zip(CONTENDERS, ("raw", "raw_scoped", "scoped", "scoped_unobserved"), strict=True)
)
# The order of the turns, rotated. The two scoped contenders query the same physical
# collection with the same key, so they never run back to back on one key: the second would
# find the first one's documents hot in the server's caches (3-6% faster on find, count and
# aggregate).
TURN_ORDER = ("raw", "scoped", "raw scoped", "scoped, no observer")
SINGLE_DOCUMENT_TARGET = 1.05
MULTI_DOCUMENT_TARGET = 1.10
WRAPPER_TARGET = 1.05  # scoped / raw scoped, every operation (ARCHITECTURE §7)
OBSERVER_TARGET = 1.03  # scoped / scoped without observer: the observer's ~1 µs is far below it;
# writes vary by about ±3 % from run to run, so a tighter target would flag noise

Collection = Any  # AsyncCollection or ScopedCollection: both are driven the same way here
Call = Callable[[Collection, Any], Awaitable[Any]]


# -- the operations, written once per contender --------------------------------------------
#
# The raw-scoped calls are literal queries, as a user would type them; `check_equivalence`
# proves at start-up that they are what the engine's rewrite rules produce.


def _group_pipeline(category: int) -> list[dict[str, Any]]:
    return [
        {"$match": {"cat": category}},
        {"$group": {"_id": "$kind", "total": {"$sum": "$n"}}},
    ]


async def _insert(collection: Collection, number: int) -> Any:
    return await collection.insert_one({"name": "new", "n": number})


async def _insert_tagged(collection: Collection, number: int) -> Any:
    return await collection.insert_one({"name": "new", "n": number, "app_id": APP})


async def _find_one(collection: Collection, document_id: ObjectId) -> Any:
    return await collection.find_one({"_id": document_id})


async def _find(collection: Collection, category: int) -> Any:
    return await collection.find({"cat": category}).to_list()


async def _find_scoped(collection: Collection, category: int) -> Any:
    return await collection.find({"$and": [{"cat": category}, {"app_id": APP}]}).to_list()


async def _update(collection: Collection, document_id: ObjectId) -> Any:
    return await collection.update_one({"_id": document_id}, {"$inc": {"n": 1}})


async def _update_scoped(collection: Collection, document_id: ObjectId) -> Any:
    return await collection.update_one(
        {"$and": [{"_id": document_id}, {"app_id": APP}]}, {"$inc": {"n": 1}}
    )


async def _count(collection: Collection, category: int) -> Any:
    return await collection.count_documents({"cat": category})


async def _count_scoped(collection: Collection, category: int) -> Any:
    return await collection.count_documents({"$and": [{"cat": category}, {"app_id": APP}]})


async def _aggregate(collection: Collection, category: int) -> Any:
    cursor = await collection.aggregate(_group_pipeline(category))
    return await cursor.to_list()


async def _aggregate_scoped(collection: Collection, category: int) -> Any:
    cursor = await collection.aggregate([{"$match": {"app_id": APP}}, *_group_pipeline(category)])
    return await cursor.to_list()


@dataclass(frozen=True)
class Operation:
    """One benchmarked operation: its calls per contender, its keys and its target."""

    name: str
    key: str  # "id", "category" or "counter": what each call is given
    raw: Call
    raw_scoped: Call
    target: float

    def call_for(self, contender: str) -> Call:
        """The call the contender makes (the scoped collection is called like raw PyMongo)."""
        return self.raw_scoped if contender == "raw scoped" else self.raw


OPERATIONS: tuple[Operation, ...] = (
    Operation("insert_one", "counter", _insert, _insert_tagged, SINGLE_DOCUMENT_TARGET),
    # find_one by _id alone: the engine sends the bare query (ARCHITECTURE §7), so does raw scoped.
    Operation("find_one by _id", "id", _find_one, _find_one, SINGLE_DOCUMENT_TARGET),
    Operation("find 100 + to_list", "category", _find, _find_scoped, MULTI_DOCUMENT_TARGET),
    Operation("update_one by _id", "id", _update, _update_scoped, SINGLE_DOCUMENT_TARGET),
    # count_documents runs as an aggregation on the server ($match + $group): a multi-document
    # operation, held to the find/aggregate target.
    Operation("count_documents", "category", _count, _count_scoped, MULTI_DOCUMENT_TARGET),
    Operation(
        "aggregate $match+$group", "category", _aggregate, _aggregate_scoped, MULTI_DOCUMENT_TARGET
    ),
)


def check_equivalence() -> None:
    """Fail unless the hand-written raw-scoped queries are what the engine's rules produce."""
    document_id = ObjectId()
    problems = []
    if scope_filter({"cat": 3}, APP) != {"$and": [{"cat": 3}, {"app_id": APP}]}:
        problems.append("find/count filter")
    if scope_filter({"_id": document_id}, APP) != {"$and": [{"_id": document_id}, {"app_id": APP}]}:
        problems.append("update filter")
    if rewrite_update({"$inc": {"n": 1}}, APP) != {"$inc": {"n": 1}}:
        problems.append("update document")
    if not is_id_lookup({"_id": document_id}):
        problems.append("find_one by _id is no longer sent bare")
    if tag_document({"name": "new", "n": 1}, APP) != {"name": "new", "n": 1, "app_id": APP}:
        problems.append("inserted document")
    expected = [{"$match": {"app_id": APP}}, *_group_pipeline(3)]
    if rewrite_pipeline(_group_pipeline(3), APP, database_name="db") != expected:
        problems.append("aggregation pipeline")
    if problems:
        raise RuntimeError(
            "the raw-scoped queries no longer match the engine's rewrite rules: "
            + ", ".join(problems)
        )


# -- measurement ---------------------------------------------------------------------------

Rounds = list[list[int]]  # per-call latencies in nanoseconds, one list per round


def _median(samples: Sequence[int]) -> float:
    return statistics.median(samples) if samples else float("nan")


def _flat(rounds: Rounds) -> list[int]:
    return [sample for samples in rounds for sample in samples]


@dataclass(frozen=True)
class Summary:
    """Per-call latencies of one contender on one operation, in microseconds."""

    median: float
    p25: float
    p75: float
    calls: int

    @classmethod
    def of(cls, rounds: Rounds) -> Summary:
        samples = _flat(rounds)
        if len(samples) < 2:
            value = _median(samples) / 1000
            return cls(value, value, value, len(samples))
        q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
        return cls(q2 / 1000, q1 / 1000, q3 / 1000, len(samples))


def ratio_interval(
    numerator: Rounds, denominator: Rounds, rng: random.Random, resamples: int = BOOTSTRAP
) -> tuple[float, float]:
    """A 95% bootstrap interval of median(numerator) / median(denominator).

    Whole rounds are resampled, so the pairing of the contenders within a round is kept.
    """
    count = len(numerator)
    ratios = []
    for _ in range(resamples):
        chosen = [rng.randrange(count) for _ in range(count)]
        top = _median([sample for index in chosen for sample in numerator[index]])
        bottom = _median([sample for index in chosen for sample in denominator[index]])
        ratios.append(top / bottom)
    ratios.sort()
    return ratios[int(0.025 * (resamples - 1))], ratios[int(0.975 * (resamples - 1))]


@dataclass(frozen=True)
class Result:
    """One row of the table."""

    operation: str
    raw: Summary
    raw_scoped: Summary
    scoped: Summary
    scoped_unobserved: Summary
    target: float
    raw_interval: tuple[float, float]  # of scoped / raw
    raw_scoped_interval: tuple[float, float]  # of scoped / raw scoped
    unobserved_interval: tuple[float, float]  # of scoped / scoped without observer
    # Mean (server time, total time) per call in µs, by contender; with --server-time only.
    server_time_us: dict[str, tuple[float, float]] | None = None

    @property
    def ratio_to_raw(self) -> float:
        """scoped / raw: what the engine costs the user."""
        return self.scoped.median / self.raw.median

    @property
    def ratio_to_raw_scoped(self) -> float:
        """scoped / raw scoped: the wrapper's own cost."""
        return self.scoped.median / self.raw_scoped.median

    @property
    def ratio_to_unobserved(self) -> float:
        """scoped / scoped without observer: the observer's cost."""
        return self.scoped.median / self.scoped_unobserved.median

    def missed_targets(self) -> list[str]:
        """The targets this operation missed, each with its ratio and 95% interval."""
        missed = []
        if not self.ratio_to_raw <= self.target:
            low, high = self.raw_interval
            missed.append(
                f"{self.operation}: scoped / raw {self.ratio_to_raw:.3f}"
                f" [{low:.3f}, {high:.3f}] > {self.target:.2f}"
            )
        if not self.ratio_to_raw_scoped <= WRAPPER_TARGET:
            low, high = self.raw_scoped_interval
            missed.append(
                f"{self.operation}: scoped / raw scoped {self.ratio_to_raw_scoped:.3f}"
                f" [{low:.3f}, {high:.3f}] > {WRAPPER_TARGET:.2f}"
            )
        if not self.ratio_to_unobserved <= OBSERVER_TARGET:
            low, high = self.unobserved_interval
            missed.append(
                f"{self.operation}: scoped / scoped without observer"
                f" {self.ratio_to_unobserved:.3f} [{low:.3f}, {high:.3f}] > {OBSERVER_TARGET:.2f}"
            )
        return missed


@dataclass
class Bench:
    """The contenders' collections and the keys they are all given."""

    collections: dict[str, Collection]
    ids: list[ObjectId]
    rng: random.Random
    counter: int = 0

    def keys(self, kind: str, count: int) -> list[Any]:
        """The keys of one round of an operation; every contender gets the same ones."""
        if kind == "id":
            return [self.rng.choice(self.ids) for _ in range(count)]
        if kind == "category":
            return [self.rng.randrange(CATEGORIES) for _ in range(count)]
        self.counter += count
        return list(range(self.counter - count, self.counter))

    async def round(self, operation: Operation, number: int, calls: int) -> dict[str, list[int]]:
        """One round of an operation: for each key, one timed call per contender.

        The contenders take turns call by call, starting with a different one each time, so
        they share the machine's state (the load on two cores drifts within seconds).
        """
        samples: dict[str, list[int]] = {contender: [] for contender in CONTENDERS}
        turns = [
            (contender, self.collections[contender], operation.call_for(contender))
            for contender in TURN_ORDER
        ]
        gc.collect()  # cheap: run() froze what was allocated before
        for position, key in enumerate(self.keys(operation.key, calls)):
            shift = (number + position) % len(turns)
            for contender, collection, call in turns[shift:] + turns[:shift]:
                start = time.perf_counter_ns()
                await call(collection, key)
                samples[contender].append(time.perf_counter_ns() - start)
        return samples

    async def run(self, rounds: int, calls: int) -> list[Result]:
        """Warm up, then run ``rounds`` rounds of every operation in turn."""
        gc.collect()
        gc.freeze()  # the objects of the set-up stay out of the collections from here on
        try:
            for number in range(WARMUP_ROUNDS):
                for operation in OPERATIONS:
                    await self.round(operation, number, calls)
            return await self._measure(rounds, calls)
        finally:
            gc.unfreeze()

    async def _measure(self, rounds: int, calls: int) -> list[Result]:
        measured: dict[tuple[str, str], Rounds] = {}
        for number in range(rounds):
            for operation in OPERATIONS:
                for contender, samples in (await self.round(operation, number, calls)).items():
                    measured.setdefault((operation.name, contender), []).append(samples)
        results = []
        for operation in OPERATIONS:
            raw, raw_scoped, scoped, unobserved = (
                measured[operation.name, name] for name in CONTENDERS
            )
            results.append(
                Result(
                    operation.name,
                    Summary.of(raw),
                    Summary.of(raw_scoped),
                    Summary.of(scoped),
                    Summary.of(unobserved),
                    operation.target,
                    ratio_interval(scoped, raw, self.rng),
                    ratio_interval(scoped, raw_scoped, self.rng),
                    ratio_interval(scoped, unobserved, self.rng),
                )
            )
        return results

    async def server_time(
        self, admin: Any, rounds: int, calls: int
    ) -> dict[tuple[str, str], tuple[float, float]]:
        """Mean server time and mean total time per call (µs), by operation and contender.

        The server time is read from ``serverStatus.opLatencies`` (reads + writes) around
        blocks of ``calls`` calls; the contenders take turns block by block.
        """
        totals: dict[tuple[str, str], tuple[int, int, int]] = {}
        for number in range(rounds):
            for operation in OPERATIONS:
                keys = self.keys(operation.key, calls)
                shift = number % len(TURN_ORDER)
                for contender in TURN_ORDER[shift:] + TURN_ORDER[:shift]:
                    call = operation.call_for(contender)
                    collection = self.collections[contender]
                    server_before, ops_before = await _op_latencies(admin)
                    start = time.perf_counter_ns()
                    for key in keys:
                        await call(collection, key)
                    elapsed = time.perf_counter_ns() - start
                    server_after, ops_after = await _op_latencies(admin)
                    server, ops, total = totals.get((operation.name, contender), (0, 0, 0))
                    totals[operation.name, contender] = (
                        server + server_after - server_before,
                        ops + ops_after - ops_before,
                        total + elapsed,
                    )
        return {
            key: (server / ops, total / 1000 / ops)
            for key, (server, ops, total) in totals.items()
            if ops
        }


async def _op_latencies(admin: Any) -> tuple[int, int]:
    """Total server latency (µs) and count of the read and write operations so far."""
    latencies = (await admin.command("serverStatus"))["opLatencies"]
    return (
        latencies["reads"]["latency"] + latencies["writes"]["latency"],
        latencies["reads"]["ops"] + latencies["writes"]["ops"],
    )


# -- set-up --------------------------------------------------------------------------------


def _documents() -> tuple[list[ObjectId], list[dict[str, Any]]]:
    ids = [ObjectId() for _ in range(DOCUMENTS)]
    documents = [
        {"_id": document_id, "cat": i % CATEGORIES, "kind": i % KINDS, "n": i, "name": f"item-{i}"}
        for i, document_id in enumerate(ids)
    ]
    return ids, documents


def _client(uri: str, appname: str) -> AsyncMongoClient[dict[str, Any]]:
    # The engine's client settings (MongoDBEngine.initialize), so only the wrapper differs.
    return AsyncMongoClient(
        uri, maxPoolSize=100, minPoolSize=0, serverSelectionTimeoutMS=10_000, appname=appname
    )


async def _copy_indexes(source: Collection, target: Collection) -> None:
    """Give ``target`` the indexes the engine built on ``source`` (its declared ones)."""
    for name, spec in (await source.index_information()).items():
        if name != "_id_":
            options = {key: value for key, value in spec.items() if key not in ("key", "v", "ns")}
            await target.create_index(spec["key"], name=name, **options)


async def _prepare(
    engine: MongoDBEngine,
    raw_database: Any,
    raw_scoped_database: Any,
    unobserved_database: Any,
    declared_index: dict[str, int],
    seed: int,
) -> Bench:
    """The contenders' collections with the same documents and their indexes.

    The plain collection gets the index a user would declare without the engine
    (``{cat: 1}``); the raw-scoped one gets exactly the indexes the engine built for the app.
    Both scoped contenders use the app's physical collection, so they share its documents.
    """
    await engine.register_app(
        {
            "schema_version": "2.0",
            "slug": APP,
            "name": "Bench",
            "managed_indexes": {"items": [{"type": "regular", "keys": declared_index}]},
        }
    )
    scoped = engine.get_scoped_db(APP).items
    raw = raw_database["raw_items"]
    raw_scoped = raw_scoped_database["raw_scoped_items"]
    await raw.create_index("cat")
    await _copy_indexes(scoped, raw_scoped)
    ids, documents = _documents()
    await raw.insert_many([dict(document) for document in documents])
    await raw_scoped.insert_many([{**document, "app_id": APP} for document in documents])
    await scoped.insert_many([dict(document) for document in documents])
    unobserved = ScopedDatabase(unobserved_database, APP).items
    collections = {
        "raw": raw,
        "raw scoped": raw_scoped,
        "scoped": scoped,
        "scoped, no observer": unobserved,
    }
    return Bench(collections, ids, random.Random(seed))


async def measure(uri: str, args: argparse.Namespace) -> tuple[dict[str, Any], list[Result]]:
    """Set up the collections on a fresh database, run the rounds, drop the database."""
    check_equivalence()
    load_before = os.getloadavg()[0]
    database_name = f"mdb_bench_{uuid.uuid4().hex[:12]}"
    declared_index = {"app_id": 1, "cat": 1} if args.prefixed_index else {"cat": 1}
    engine = MongoDBEngine(uri, database_name)
    raw_client = _client(uri, "bench-raw")
    raw_scoped_client = _client(uri, "bench-raw-scoped")
    unobserved_client = _client(uri, "bench-scoped-unobserved")
    try:
        await engine.initialize()
        build = await raw_client.admin.command("buildInfo")
        bench = await _prepare(
            engine,
            raw_client[database_name],
            raw_scoped_client[database_name],
            unobserved_client[database_name],
            declared_index,
            args.seed,
        )
        results = await bench.run(args.rounds, args.ops_per_round)
        if args.server_time:
            times = await bench.server_time(raw_client.admin, args.rounds, args.ops_per_round)
            nan = (float("nan"), float("nan"))
            results = [
                dataclasses.replace(
                    result,
                    server_time_us={
                        name: times.get((result.operation, name), nan) for name in CONTENDERS
                    },
                )
                for result in results
            ]
    finally:
        with contextlib.suppress(PyMongoError):  # cleaning up must not hide the real error
            await raw_client.drop_database(database_name)
        await raw_client.close()
        await raw_scoped_client.close()
        await unobserved_client.close()
        await engine.shutdown()
    environment = {
        "python": platform.python_version(),
        "pymongo": pymongo.version,
        "mdb_engine": __version__,
        "mongod": build.get("version"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        # Other processes on the machine spoil the medians: the 1-minute load, before and after.
        "load_average": [load_before, os.getloadavg()[0]],
        "server": "given by --uri",
        "declared_index": declared_index,
        "rounds": args.rounds,
        "ops_per_round": args.ops_per_round,
    }
    return environment, results


async def _run(args: argparse.Namespace) -> tuple[dict[str, Any], list[Result]]:
    if args.uri:
        return await measure(args.uri, args)
    from mdb_engine.embedded import LocalMongod

    async with LocalMongod() as mongod:
        environment, results = await measure(mongod.uri, args)
    environment["server"] = "local single-node replica set started by LocalMongod"
    return environment, results


# -- output --------------------------------------------------------------------------------


def _cell(summary: Summary) -> str:
    return f"{summary.median:,.0f} ({summary.p25:,.0f}–{summary.p75:,.0f})"


def _ratio(value: float, interval: tuple[float, float]) -> str:
    return f"{value:.3f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def _server_table(results: Sequence[Result]) -> list[str]:
    lines = [
        "",
        "Mean time per call in µs, server / total: the server's share from serverStatus "
        "opLatencies, the rest is client, driver and network (blocks of calls, contenders "
        "in turn):",
        "",
        "| operation | raw | raw scoped | scoped | scoped, no observer "
        "| scoped − raw: server / total |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        server = result.server_time_us or {}
        nan = (float("nan"), float("nan"))
        (raw_server, raw_total), raw_scoped, (scoped_server, scoped_total), unobserved = (
            server.get(name, nan) for name in CONTENDERS
        )
        lines.append(
            f"| {result.operation} | {raw_server:,.0f} / {raw_total:,.0f} "
            f"| {raw_scoped[0]:,.0f} / {raw_scoped[1]:,.0f} "
            f"| {scoped_server:,.0f} / {scoped_total:,.0f} "
            f"| {unobserved[0]:,.0f} / {unobserved[1]:,.0f} "
            f"| {scoped_server - raw_server:+,.0f} / {scoped_total - raw_total:+,.0f} |"
        )
    return lines


def markdown(environment: dict[str, Any], results: Sequence[Result]) -> str:
    """The Markdown table, the environment and the verdict on each target."""
    load_before, load_after = environment["load_average"]
    lines = [
        f"mdb-engine {environment['mdb_engine']}, Python {environment['python']}, "
        f"PyMongo {environment['pymongo']}, "
        f"mongod {environment['mongod']} ({environment['server']}), "
        f"{environment['cpus']} CPUs (load average {load_before:.1f} before, "
        f"{load_after:.1f} after); app index {json.dumps(environment['declared_index'])}; "
        f"{environment['rounds']} rounds × {environment['ops_per_round']} calls per contender "
        "and operation. Latency per call in µs: median (p25–p75); ratios of the medians "
        "[95% bootstrap interval]; observer: scoped / scoped without observer.",
        "",
        "| operation | raw | raw scoped | scoped | scoped / raw | scoped / raw scoped "
        "| observer | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.operation} | {_cell(result.raw)} | {_cell(result.raw_scoped)} "
            f"| {_cell(result.scoped)} | {_ratio(result.ratio_to_raw, result.raw_interval)} "
            f"| {_ratio(result.ratio_to_raw_scoped, result.raw_scoped_interval)} "
            f"| {_ratio(result.ratio_to_unobserved, result.unobserved_interval)} "
            f"| ≤ {result.target:.2f} |"
        )
    if any(result.server_time_us for result in results):
        lines.extend(_server_table(results))
    missed = [miss for result in results for miss in result.missed_targets()]
    lines.append("")
    if missed:
        lines.append("Targets missed:")
        lines.extend(f"- {miss}" for miss in missed)
    else:
        lines.append(
            "All targets met (scoped / raw within each operation's target, "
            f"scoped / raw scoped ≤ {WRAPPER_TARGET}, "
            f"scoped / scoped without observer ≤ {OBSERVER_TARGET})."
        )
    return "\n".join(lines) + "\n"


def as_json(environment: dict[str, Any], results: Sequence[Result]) -> str:
    """The same results as JSON."""
    rows = []
    for result in results:
        row: dict[str, Any] = {"operation": result.operation, "target": result.target}
        for name in JSON_NAMES.values():
            summary = getattr(result, name)
            row[name] = {
                "median_us": summary.median,
                "p25_us": summary.p25,
                "p75_us": summary.p75,
                "calls": summary.calls,
            }
        row["scoped_over_raw"] = result.ratio_to_raw
        row["scoped_over_raw_interval"] = list(result.raw_interval)
        row["scoped_over_raw_scoped"] = result.ratio_to_raw_scoped
        row["scoped_over_raw_scoped_interval"] = list(result.raw_scoped_interval)
        row["scoped_over_unobserved"] = result.ratio_to_unobserved
        row["scoped_over_unobserved_interval"] = list(result.unobserved_interval)
        if result.server_time_us is not None:
            row["server_time_us"] = {
                JSON_NAMES[name]: {"server": server, "total": total}
                for name, (server, total) in result.server_time_us.items()
            }
        row["missed"] = result.missed_targets()
        rows.append(row)
    return json.dumps({"environment": environment, "results": rows}, indent=2) + "\n"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=_positive, default=40, help="timed rounds (default 40)")
    parser.add_argument(
        "--ops-per-round",
        type=_positive,
        default=50,
        help="calls per contender and operation in each round (default 50)",
    )
    parser.add_argument("--uri", help="an existing MongoDB (default: start a local mongod)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the key choices")
    parser.add_argument(
        "--prefixed-index",
        action="store_true",
        help="declare the app's index as {app_id: 1, cat: 1} instead of {cat: 1}",
    )
    parser.add_argument(
        "--server-time",
        action="store_true",
        help="then measure the mean server time per call (serverStatus); about doubles the run",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table; 0 even when a target is missed."""
    args = parse_args(argv)
    environment, results = asyncio.run(_run(args))
    sys.stdout.write(as_json(environment, results) if args.json else markdown(environment, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
