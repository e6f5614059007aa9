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

Usage: ``python benchmarks/vector_search.py [--sizes 10000,100000] [--rounds R] [--k K]
[--uri URI] [--json]``. Without ``--uri`` a local mongod (1 GB cache) is started in a
temporary directory; with it, a fresh database is used and dropped.
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
from typing import Any

import numpy as np
import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure
from pymongo.operations import SearchIndexModel

from mdb_engine import MongoDBEngine, ScopedCollection, __version__
from mdb_engine.embeddings import vector_search
from mdb_engine.indexes.search import SEARCH_UNSUPPORTED_CODES

__all__ = ["CONTENDERS", "main", "render"]

APP = "bench"
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
            await engine.register_app({"schema_version": "2.0", "slug": APP, "name": "Bench"})
            results = [
                await measure_size(engine, client, database, size, rounds, k) for size in sizes
            ]
    finally:
        await client.drop_database(database)
        await client.close()
    return {"dimensions": DIMENSIONS, "k": k, "rounds": rounds, "sizes": results}


def _environment() -> dict[str, Any]:
    return {
        "mdb_engine": __version__,
        "pymongo": pymongo.version,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


def render(report: Mapping[str, Any]) -> str:
    """The report as Markdown."""
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


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.uri:
        return await measure(args.uri, args.sizes, args.rounds, args.k)
    from mdb_engine.embedded import LocalMongod

    async with LocalMongod(cache_size_gb=1.0) as mongod:
        return await measure(mongod.uri, args.sizes, args.rounds, args.k)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _sizes(text: str) -> list[int]:
    return [_positive(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=_sizes, default=[10_000, 100_000], help="documents (default 10000,100000)"
    )
    parser.add_argument("--rounds", type=_positive, default=5, help="timed rounds (default 5)")
    parser.add_argument("--k", type=_positive, default=10, help="results per query (default 10)")
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
