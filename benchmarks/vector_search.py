"""What ``vector_search`` costs on each path, against a client-side baseline, by collection size.

One process, one server. For each size (default 10,000 and 100,000 documents of 384-dimension
unit vectors, each with a 500-character text), every contender answers the same top-10 query
in interleaved rounds (a new random query each round, the order rotated):

- ``client`` (the baseline): what an app writes without the engine's help: raw PyMongo reads
  every document of the app, decodes it in Python, and numpy ranks them;
- ``numpy``: the engine's exact search, ``method="numpy"`` (vectors streamed as raw BSON and
  read without decoding, scored in a worker thread, then the best 10 documents fetched);
- ``database``: the engine's exact search, ``method="database"`` (the server computes every
  cosine with ``$map`` / ``$sum`` and sends back the best 10);
- ``$vectorSearch``: Atlas Vector Search (approximate), only where the server has it: the
  script creates a vector index and waits until it is queryable. Its recall@10 against the
  exact result is printed too.

Printed: the median time of each contender and its ratio to ``client``, and which exact path
is faster at each size. No target: the numbers locate the crossovers (docs/embeddings.md).

With ``--link-mbit 1000,300,100,30`` the script instead times the two exact paths through a
bandwidth-limited link (``benchmarks/_throttled_link.py``, a proxy in its own process, with
``--link-latency-ms`` added each way), once per bandwidth, after the same comparison made
directly and through the link without a limit. The baseline is then ``numpy``: printed are the
medians of both paths and ``database / numpy`` at each bandwidth, the bytes the server sends
per query on each path, and the bandwidth below which the database path is faster. The link
connects to the first host of the URI with ``directConnection=true`` (no TLS, no credentials:
meant for a local server).

Usage: ``python benchmarks/vector_search.py [--sizes 10000,100000] [--rounds R] [--k K]
[--link-mbit M1,M2,... [--link-latency-ms L]] [--uri URI] [--json]``. Without ``--uri`` a
local mongod (1 GB cache) is started in a temporary directory; with it, a fresh database is
used and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure
from pymongo.operations import SearchIndexModel
from pymongo.uri_parser import parse_uri

from mdb_engine import MongoDBEngine, ScopedCollection, __version__
from mdb_engine.embeddings import vector_search
from mdb_engine.indexes.search import SEARCH_UNSUPPORTED_CODES

__all__ = ["CONTENDERS", "main", "measure", "measure_link", "render", "throttled_link"]

APP = "bench"
MANIFEST = {"schema_version": "2.0", "slug": APP, "name": "Bench"}
LINK_SCRIPT = Path(__file__).resolve().with_name("_throttled_link.py")
LINK_START_TIMEOUT = 30.0
DIMENSIONS = 384
TEXT_LENGTH = 500
INDEX_NAME = "bench_vectors"
CONTENDERS = ("client", "numpy", "database", "$vectorSearch")
INSERT_BATCH = 1000
INDEX_READY_TIMEOUT = 600.0

Client = AsyncMongoClient[dict[str, Any]]


async def _fill(collection: ScopedCollection, size: int, seed: int) -> None:
    """``size`` documents with random unit vectors, through the engine (tagged ``app_id``)."""
    rng = np.random.default_rng(seed)
    text = ("lorem ipsum dolor sit amet " * (TEXT_LENGTH // 27 + 1))[:TEXT_LENGTH]
    for start in range(0, size, INSERT_BATCH):
        count = min(INSERT_BATCH, size - start)
        vectors = rng.standard_normal((count, DIMENSIONS))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        await collection.insert_many(
            [
                {"n": start + row, "text": text, "embedding": vector.tolist()}
                for row, vector in enumerate(vectors)
            ]
        )


async def client_side(raw: Any, query: np.ndarray, k: int) -> list[Any]:
    """The baseline: every document of the app decoded by the driver, ranked with numpy."""
    documents = await raw.find({"app_id": APP}).to_list()
    matrix = np.array([document.pop("embedding") for document in documents])
    scores = matrix @ query / np.linalg.norm(matrix, axis=1)
    best = np.argsort(-scores, kind="stable")[:k]
    return [documents[row]["_id"] for row in best]


async def _has_vector_search(raw: Any) -> bool:
    try:
        await (await raw.aggregate([{"$listSearchIndexes": {}}])).to_list()
    except OperationFailure as error:
        if error.code in SEARCH_UNSUPPORTED_CODES:
            return False
        raise
    return True


async def _create_vector_index(raw: Any) -> None:
    """A vector index on ``embedding`` (with ``app_id`` as a filter), once it is queryable."""
    definition = {
        "fields": [
            {
                "type": "vector",
                "path": "embedding",
                "numDimensions": DIMENSIONS,
                "similarity": "cosine",
            },
            {"type": "filter", "path": "app_id"},
        ]
    }
    await raw.create_search_index(
        SearchIndexModel(definition=definition, name=INDEX_NAME, type="vectorSearch")
    )
    deadline = time.monotonic() + INDEX_READY_TIMEOUT
    while time.monotonic() < deadline:
        listed = await (
            await raw.aggregate([{"$listSearchIndexes": {"name": INDEX_NAME}}])
        ).to_list()
        if listed and listed[0].get("queryable"):
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"the vector index was not queryable after {INDEX_READY_TIMEOUT} s")


def _recall(found: Sequence[Any], exact: Sequence[Any]) -> float:
    return len(set(found) & set(exact)) / len(exact) if exact else 1.0


async def measure_size(
    engine: MongoDBEngine, client: Client, database: str, size: int, rounds: int, k: int
) -> dict[str, Any]:
    """Fill a collection of ``size`` documents and time every contender on it."""
    name = f"vectors_{size}"
    collection = engine.get_scoped_db(APP).get_collection(name)
    raw = client[database][f"{APP}_{name}"]
    await _fill(collection, size, seed=size)
    has_atlas = await _has_vector_search(raw)
    if has_atlas:
        await _create_vector_index(raw)

    async def ids(results: Awaitable[list[dict[str, Any]]]) -> list[Any]:
        return [result["_id"] for result in await results]

    contenders: dict[str, Callable[[np.ndarray], Awaitable[list[Any]]]] = {
        "client": lambda query: client_side(raw, query, k),
        "numpy": lambda query: ids(vector_search(collection, query.tolist(), k, method="numpy")),
        "database": lambda query: ids(
            vector_search(collection, query.tolist(), k, method="database")
        ),
    }
    if has_atlas:
        contenders["$vectorSearch"] = lambda query: ids(
            vector_search(
                collection, query.tolist(), k, index_name=INDEX_NAME, method="vector_search"
            )
        )
    times: dict[str, list[float]] = {name: [] for name in contenders}
    recalls: list[float] = []
    agree = True
    rng = np.random.default_rng(size + 1)
    names = list(contenders)
    for round_number in range(rounds + 1):  # round 0 warms the server's cache and the driver
        query = rng.standard_normal(DIMENSIONS)
        query /= np.linalg.norm(query)
        found: dict[str, list[Any]] = {}
        for position in range(len(names)):
            name = names[(round_number + position) % len(names)]
            started = time.perf_counter()
            found[name] = await contenders[name](query)
            if round_number:
                times[name].append(time.perf_counter() - started)
        agree = agree and found["numpy"] == found["database"] == found["client"]
        if "$vectorSearch" in found:
            recalls.append(_recall(found["$vectorSearch"], found["numpy"]))
    await collection.drop()
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "documents": size,
        "median_seconds": medians,
        "over_client": {name: value / medians["client"] for name, value in medians.items()},
        "exact_paths_agree": agree,
        "faster_exact": "numpy" if medians["numpy"] <= medians["database"] else "database",
        "vector_search_recall": statistics.mean(recalls) if recalls else None,
    }


async def measure(uri: str, sizes: Sequence[int], rounds: int, k: int) -> dict[str, Any]:
    """Every size, on a fresh database dropped afterwards."""
    database = f"mdb_bench_{uuid.uuid4().hex[:10]}"
    client: Client = AsyncMongoClient(uri)
    try:
        async with MongoDBEngine(uri, database) as engine:
            await engine.register_app(MANIFEST)
            results = [
                await measure_size(engine, client, database, size, rounds, k) for size in sizes
            ]
    finally:
        await client.drop_database(database)
        await client.close()
    return {"dimensions": DIMENSIONS, "k": k, "rounds": rounds, "sizes": results}


@contextlib.asynccontextmanager
async def throttled_link(
    host: str, port: int, mbit: float | None, latency_ms: float
) -> AsyncIterator[str]:
    """The URI of ``host:port`` through a link of ``mbit`` Mbit/s (``None``: no limit)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LINK_SCRIPT),
        "--upstream",
        f"{host}:{port}",
        "--link-mbit",
        str(mbit or 0),
        "--link-latency-ms",
        str(latency_ms),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), LINK_START_TIMEOUT)
        if not line.startswith(b"port "):
            raise RuntimeError(f"the throttled link did not start: {line!r}")
        yield f"mongodb://127.0.0.1:{int(line.split()[1])}/?directConnection=true"
    finally:
        process.stdin.close()  # the link stops when its standard input closes
        try:
            await asyncio.wait_for(process.wait(), 10.0)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            process.kill()
            await process.wait()


async def _time_exact(
    collection: ScopedCollection, rounds: int, k: int, seed: int, *, warm_up: bool
) -> dict[str, Any]:
    """Medians of the two exact paths on the same ``rounds`` queries (order rotated)."""

    async def ids(method: Literal["numpy", "database"], query: np.ndarray) -> list[Any]:
        results = await vector_search(collection, query.tolist(), k, method=method)
        return [result["_id"] for result in results]

    names: tuple[Literal["numpy", "database"], ...] = ("numpy", "database")
    times: dict[str, list[float]] = {name: [] for name in names}
    agree = True
    rng = np.random.default_rng(seed)
    for round_number in range(rounds + 1):  # round 0 warms up (its query drawn either way)
        query = rng.standard_normal(DIMENSIONS)
        query /= np.linalg.norm(query)
        if not (round_number or warm_up):
            continue
        found: dict[str, list[Any]] = {}
        for position in range(len(names)):
            name = names[(round_number + position) % len(names)]
            started = time.perf_counter()
            found[name] = await ids(name, query)
            if round_number:
                times[name].append(time.perf_counter() - started)
        agree = agree and found["numpy"] == found["database"]
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "median_seconds": medians,
        "database_over_numpy": medians["database"] / medians["numpy"],
        "exact_paths_agree": agree,
    }


async def _bytes_out(client: Client) -> int:
    status = await client.admin.command(
        {"serverStatus": 1, **dict.fromkeys(("metrics", "wiredTiger", "locks", "repl"), 0)}
    )
    return int(status["network"]["bytesOut"])


async def _server_bytes_per_query(
    client: Client, collection: ScopedCollection, k: int
) -> dict[str, int]:
    """What the server sends for one query on each exact path (``serverStatus`` bytesOut)."""
    query = [1.0 / DIMENSIONS**0.5] * DIMENSIONS
    before = await _bytes_out(client)
    idle = await _bytes_out(client) - before  # one serverStatus reply, subtracted below
    sent = {}
    for method in ("numpy", "database"):
        start = await _bytes_out(client)
        await vector_search(collection, query, k, method=method)
        sent[method] = max(0, await _bytes_out(client) - start - idle)
    return sent


def _crossover(links: Sequence[Mapping[str, Any]]) -> float | None:
    """The bandwidth where the two paths take the same time, interpolated in 1/bandwidth.

    numpy's time is close to linear in 1/bandwidth and the database's almost constant, so
    their difference is interpolated linearly in 1/bandwidth between the two bandwidths that
    bracket the crossover. ``None`` when the database path is not faster at the lowest
    bandwidth measured; the highest one when it is faster at every bandwidth.
    """
    limited = sorted(
        (link for link in links if link["mbit"] is not None), key=lambda link: -link["mbit"]
    )

    def gap(link: Mapping[str, Any]) -> float:  # > 0: the database path is faster
        medians = link["median_seconds"]
        return float(medians["numpy"] - medians["database"])

    previous: Mapping[str, Any] | None = None
    for link in limited:
        if gap(link) >= 0:
            if previous is None:
                return float(link["mbit"])
            low, high = 1 / previous["mbit"], 1 / link["mbit"]
            inverse = low + -gap(previous) * (high - low) / (gap(link) - gap(previous))
            return float(1 / inverse)
        previous = link
    return None


async def measure_link(
    uri: str,
    sizes: Sequence[int],
    bandwidths: Sequence[float],
    rounds: int,
    k: int,
    latency_ms: float = 0.0,
) -> dict[str, Any]:
    """The two exact paths directly, then through a link at each bandwidth, for every size."""
    database = f"mdb_bench_{uuid.uuid4().hex[:10]}"
    host, port = parse_uri(uri)["nodelist"][0]
    client: Client = AsyncMongoClient(uri)
    results = []
    try:
        async with MongoDBEngine(uri, database) as engine:
            await engine.register_app(MANIFEST)
            for size in sizes:
                name = f"vectors_{size}"
                collection = engine.get_scoped_db(APP).get_collection(name)
                await _fill(collection, size, seed=size)
                direct = await _time_exact(collection, rounds, k, size + 1, warm_up=True)
                links = [{"link": "direct", "mbit": None, **direct}]
                for mbit in [None, *bandwidths]:
                    async with (
                        throttled_link(host, port, mbit, latency_ms) as link_uri,
                        MongoDBEngine(link_uri, database) as linked,
                    ):
                        await linked.register_app(MANIFEST)
                        through = linked.get_scoped_db(APP).get_collection(name)
                        await through.find_one({}, {"_id": 1})  # connects before timing
                        timed = await _time_exact(through, rounds, k, size + 1, warm_up=False)
                    label = "link, no limit" if mbit is None else f"{mbit:g} Mbit/s"
                    links.append({"link": label, "mbit": mbit, **timed})
                results.append(
                    {
                        "documents": size,
                        "server_bytes_per_query": await _server_bytes_per_query(
                            client, collection, k
                        ),
                        "links": links,
                        "crossover_mbit": _crossover(links),
                    }
                )
                await collection.drop()
    finally:
        await client.drop_database(database)
        await client.close()
    return {
        "mode": "link",
        "dimensions": DIMENSIONS,
        "k": k,
        "rounds": rounds,
        "latency_ms": latency_ms,
        "sizes": results,
    }


def _environment() -> dict[str, Any]:
    return {
        "mdb_engine": __version__,
        "pymongo": pymongo.version,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


def render_link(report: Mapping[str, Any]) -> str:
    """The report of ``--link-mbit`` as Markdown."""
    lines = [
        f"vector_search over a throttled link: top {report['k']} of {report['dimensions']}-"
        f"dimension vectors, median of {report['rounds']} rounds, "
        f"{report['latency_ms']:g} ms added each way",
        "",
        "| documents | link | numpy | database | database / numpy |",
        "|---|---|---|---|---|",
    ]
    notes = []
    for result in report["sizes"]:
        for link in result["links"]:
            medians = link["median_seconds"]
            lines.append(
                f"| {result['documents']:,} | {link['link']} | "
                f"{medians['numpy'] * 1000:.1f} ms | {medians['database'] * 1000:.1f} ms | "
                f"{link['database_over_numpy']:.2f} |"
            )
        sent = result["server_bytes_per_query"]
        note = (
            f"{result['documents']:,} documents: the server sends {sent['numpy'] / 1e6:.2f} MB "
            f"per query to numpy, {sent['database'] / 1e3:.1f} KB to database; "
        )
        crossover = result["crossover_mbit"]
        limited = [link["mbit"] for link in result["links"] if link["mbit"] is not None]
        if crossover is None:
            note += "the database path is not faster at any bandwidth measured"
        elif crossover >= max(limited):
            note += f"the database path is faster at every bandwidth measured (≤ {crossover:g})"
        else:
            note += f"the database path is faster below about {crossover:.0f} Mbit/s"
        if not all(link["exact_paths_agree"] for link in result["links"]):
            note += " (WARNING: the exact paths returned different documents)"
        notes.append(note)
    return "\n".join([*lines, "", *notes])


def render(report: Mapping[str, Any]) -> str:
    """The report as Markdown."""
    if report.get("mode") == "link":
        return render_link(report)
    lines = [
        f"vector_search: top {report['k']} of {report['dimensions']}-dimension vectors, "
        f"median of {report['rounds']} rounds",
        "",
        "| documents | contender | median | × client |",
        "|---|---|---|---|",
    ]
    notes = []
    for result in report["sizes"]:
        for name in CONTENDERS:
            if name not in result["median_seconds"]:
                continue
            seconds = result["median_seconds"][name]
            lines.append(
                f"| {result['documents']:,} | {name} | {seconds * 1000:.1f} ms | "
                f"{result['over_client'][name]:.2f} |"
            )
        note = (
            f"{result['documents']:,} documents: the faster exact path is {result['faster_exact']}"
        )
        if not result["exact_paths_agree"]:
            note += " (WARNING: the exact paths returned different documents)"
        if result["vector_search_recall"] is not None:
            note += f"; $vectorSearch recall@{report['k']} {result['vector_search_recall']:.2f}"
        else:
            note += "; $vectorSearch not measured (the server has no Atlas Search)"
        notes.append(note)
    return "\n".join([*lines, "", *notes])


async def _measure(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    if args.link_mbit:
        return await measure_link(
            uri, args.sizes, args.link_mbit, args.rounds, args.k, args.link_latency_ms
        )
    return await measure(uri, args.sizes, args.rounds, args.k)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.uri:
        return await _measure(args, args.uri)
    from mdb_engine.embedded import LocalMongod

    async with LocalMongod(cache_size_gb=1.0) as mongod:
        return await _measure(args, mongod.uri)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _sizes(text: str) -> list[int]:
    return [_positive(part) for part in text.split(",") if part.strip()]


def _bandwidths(text: str) -> list[float]:
    values = [float(part) for part in text.split(",") if part.strip()]
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("bandwidths must be positive numbers of Mbit/s")
    return values


def _latency(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("cannot be negative")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=_sizes, default=[10_000, 100_000], help="documents (default 10000,100000)"
    )
    parser.add_argument("--rounds", type=_positive, default=5, help="timed rounds (default 5)")
    parser.add_argument("--k", type=_positive, default=10, help="results per query (default 10)")
    parser.add_argument(
        "--link-mbit",
        type=_bandwidths,
        help="time the exact paths through a link of these Mbit/s instead (e.g. 1000,300,100)",
    )
    parser.add_argument(
        "--link-latency-ms",
        type=_latency,
        default=0.0,
        help="with --link-mbit: delay added in each direction (default 0)",
    )
    parser.add_argument("--uri", help="an existing MongoDB (default: start a local mongod)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    args = parse_args(argv)
    report = asyncio.run(_run(args))
    report["environment"] = _environment()
    sys.stdout.write((json.dumps(report, indent=2) if args.json else render(report)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
