"""Property: whatever app A sends through its scoped database, app B's data stays out of reach.

Two apps share one database with the same logical collections (``tasks``, ``notes``), the same
document shapes and overlapping ``_id`` values. Hypothesis builds filters, updates and pipelines
from the supported operators, with hostile pieces mixed in (conditions on ``app_id``, ``_id``
values that exist in B, updates and stages that rewrite ``app_id``, lookups of ``app_b_tasks``
and ``_mdb_engine_apps``, ``$out``/``$merge`` to other databases, refused stages), and runs them
through app A: reads, writes (with and without upsert, ``bulk_write``), aggregations, and calls
with extra keyword arguments that PyMongo forwards into the command. After every example:

1. a raw snapshot of every collection that is not A's (B's and the engine's) is unchanged;
2. nothing the call returned carries B's data (every string in B's documents contains
   ``B-secret``, and B's documents carry ``app_id: "app_b"``);
3. every document in every ``app_a_*`` collection has ``app_id == "app_a"`` and no B data;
4. no collection appeared outside ``app_a_*``/``app_b_*``/``_mdb_engine*``, nor in another
   database;

and a refused call (``ScopeViolation``) sent no command at all. Server errors and PyMongo's own
validation errors are accepted outcomes: the invariants are checked after them as well.

So that B's data in a result can only have come from B, generated values follow two rules:
outside filters and comparisons, ``"app_b"`` is only ever written to ``app_id`` (which the engine
must refuse or overwrite); ``B-secret`` strings appear in filters only, and in the filters of
upserting calls only under operators whose values the server never copies into the new document
(``$ne``, ``$nin``, ranges, ``$in`` with two or more values, ``$regex``, ``$expr``).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.operations import (
    DeleteMany,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
)
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

from mdb_engine import MongoDBEngine, ScopeViolation
from mdb_engine.database import ScopedDatabase
from mdb_engine.testing import CommandLog

Doc = dict[str, Any]
RawClient = AsyncMongoClient[Doc]
Strategy = st.SearchStrategy

A = "app_a"
B = "app_b"
MARK = "B-secret"
# A database that no call may create or write to; the own database is written as OWN_DB in the
# generated calls and substituted when the call runs (its name is only known per test).
OTHER_DB = "mdb_engine_isolation_other"
OWN_DB = "<own database>"
PROTECTED_PREFIXES = (f"{B}_", "_mdb_engine")

EXAMPLES = {"reads": 150, "writes": 200, "pipelines": 200, "driver_options": 100}
SETTINGS = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}

# -- the two apps' data ----------------------------------------------------------------------


def _a_task(i: int) -> Doc:
    return {
        "_id": i,
        "n": i,
        "title": f"task-{i}",
        "tags": ["red", "blue"][: 1 + i % 2],
        "meta": {"k": i % 3, "s": f"m{i}", "app_id": A},
        "items": [{"k": i, "v": f"v{i}"}, {"k": i + 1, "v": "w"}],
        "ref": i % 4,
        "flag": i % 2 == 0,
    }


def _b_task(_id: Any, i: int) -> Doc:
    return {
        "_id": _id,
        "n": i,
        "title": f"{MARK}-title-{i}",
        "tags": ["red", f"{MARK}-tag-{i}"],
        "meta": {"k": i % 3, "s": f"{MARK}-meta-{i}", "app_id": B},
        "items": [{"k": i, "v": f"{MARK}-v-{i}"}],
        "ref": i % 4,
        "flag": i % 2 == 0,
        "secret": f"{MARK}-{i}",
    }


def _note(i: int, owner: str) -> Doc:
    body = f"note-{i}" if owner == A else f"{MARK}-note-{i}"
    return {"_id": i, "n": i, "body": body, "ref": i, "tags": ["blue", body]}


# A's documents, stored raw (with app_id) and restored before every example.
A_SEED: dict[str, list[Doc]] = {
    "tasks": [_a_task(i) for i in range(6)] + [{"_id": "shared", "n": 50, "title": "shared-a"}],
    "notes": [_note(i, A) for i in range(4)],
}
# B's documents, inserted once through B's own scoped database: _ids 0-5 and "shared" are also
# A's, the others exist only in B.
B_SEED: dict[str, list[Doc]] = {
    "tasks": [_b_task(i, i) for i in range(6)]
    + [_b_task(f"{MARK}-id-{i}", i) for i in range(6, 9)]
    + [_b_task("shared", 50)],
    "notes": [_note(i, B) for i in range(6)],
    "private": [{"_id": i, "n": i, "secret": f"{MARK}-private-{i}"} for i in range(3)],
}
SHARED_IDS = [0, 1, 2, 3, 4, 5, "shared"]
B_ONLY_IDS = [f"{MARK}-id-{i}" for i in range(6, 9)]

# -- values and filters ------------------------------------------------------------------------

SAFE_SCALARS: Strategy[Any] = st.one_of(
    st.integers(-1, 8),
    st.sampled_from(["task-1", "task-4", "red", "blue", "m2", "v1", "w", "note-2", "app_a", ""]),
    st.none(),
    st.booleans(),
)
MARKERS: Strategy[Any] = st.sampled_from(
    [f"{MARK}-1", f"{MARK}-title-2", f"{MARK}-tag-3", f"{MARK}-note-1", *B_ONLY_IDS]
)
WRITE_VALUES: Strategy[Any] = st.one_of(
    SAFE_SCALARS,
    st.lists(SAFE_SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(["k", "s", "v"]), SAFE_SCALARS, max_size=2),
)
FILTER_FIELDS = st.sampled_from(
    [
        "_id",
        "n",
        "title",
        "tags",
        "meta",
        "meta.k",
        "meta.s",
        "meta.app_id",
        "items",
        "items.k",
        "items.v",
        "items.0.k",
        "ref",
        "flag",
        "body",
        "secret",
        "missing",
    ]
)
PATTERNS = st.sampled_from(["^task", MARK, ".", "^m", "^app_", "a$"])
APP_ID_ATOMS: list[Doc] = [
    {"app_id": B},
    {"app_id": A},
    {"app_id": {"$ne": A}},
    {"app_id": {"$in": [A, B]}},
    {"app_id": {"$nin": [A]}},
    {"app_id": {"$exists": False}},
    {"app_id": {"$exists": True}},
    {"app_id": {"$regex": "^app_"}},
    {"app_id": {"$gte": ""}},
    {"app_id": {"$not": {"$eq": A}}},
    {"app_id": {"$type": "string"}},
    {"app_id": None},
    {"app_id.x": {"$exists": False}},
    {"$or": [{"app_id": B}, {"app_id": {"$ne": B}}]},
    {"$nor": [{"app_id": A}]},
]
EXPR_ATOMS: list[Doc] = [
    {"$expr": {"$eq": ["$app_id", B]}},
    {"$expr": {"$ne": ["$app_id", A]}},
    {"$expr": {"$in": ["$app_id", [A, B]]}},
    {"$expr": True},
    {"$expr": {"$eq": ["$secret", f"{MARK}-1"]}},
    {"$expr": {"$eq": ["$meta.app_id", "$app_id"]}},
    {"$expr": {"$in": ["red", {"$ifNull": ["$tags", []]}]}},
]


def _wrap(operator: str, values: Strategy[Any]) -> Strategy[Doc]:
    return values.map(lambda value: {operator: value})


def _merge_all(documents: list[Doc]) -> Doc:
    merged: Doc = {}
    for document in documents:
        merged.update(document)
    return merged


@functools.cache
def filters(*, upserting: bool) -> Strategy[Doc]:
    """Query filters; with ``upserting``, no B marker sits where an upsert would copy it."""
    any_scalar = st.one_of(SAFE_SCALARS, MARKERS)
    equal_value = SAFE_SCALARS if upserting else any_scalar
    comparison = st.one_of(
        _wrap("$eq", equal_value),
        st.sampled_from(["$ne", "$gt", "$gte", "$lt", "$lte"]).flatmap(
            lambda operator: _wrap(operator, any_scalar)
        ),
        _wrap("$in", st.lists(any_scalar, min_size=2 if upserting else 0, max_size=3, unique=True)),
        _wrap("$nin", st.lists(any_scalar, max_size=3)),
        _wrap("$exists", st.booleans()),
        _wrap("$regex", PATTERNS),
        _wrap("$type", st.sampled_from(["string", "int", "array", "object", "null"])),
        _wrap("$size", st.integers(0, 2)),
    )
    element_match = st.one_of(
        st.tuples(st.sampled_from(["k", "v"]), comparison).map(lambda kc: {kc[0]: kc[1]}),
        comparison,
    ).map(lambda condition: {"$elemMatch": condition})
    condition = st.one_of(
        equal_value, comparison, comparison, _wrap("$not", comparison), element_match
    )
    field_atom = st.tuples(FILTER_FIELDS, condition).map(lambda fc: {fc[0]: fc[1]})
    ids = st.sampled_from(SHARED_IDS if upserting else [*SHARED_IDS, *B_ONLY_IDS])
    id_atom = st.one_of(
        ids.map(lambda value: {"_id": value}),
        st.just({"_id": {"$in": B_ONLY_IDS[:2]}}),
        st.lists(ids, min_size=2, max_size=3, unique=True).map(lambda v: {"_id": {"$in": v}}),
        st.integers(-1, 6).map(lambda n: {"_id": {"$gte": n}}),
    )
    expr_atom = st.one_of(
        st.sampled_from(EXPR_ATOMS),
        st.integers(-1, 8).map(lambda n: {"$expr": {"$gt": ["$n", n]}}),
    )
    atom = st.one_of(field_atom, field_atom, st.sampled_from(APP_ID_ATOMS), expr_atom, id_atom)
    tree = st.recursive(
        atom,
        lambda children: st.one_of(
            *(
                _wrap(operator, st.lists(children, min_size=1, max_size=3))
                for operator in ("$and", "$or", "$nor")
            )
        ),
        max_leaves=6,
    )
    return st.one_of(st.just({}), st.lists(tree, min_size=1, max_size=3).map(_merge_all))


# -- updates -----------------------------------------------------------------------------------

WRITE_PATHS = st.sampled_from(
    ["n", "title", "tags", "meta", "meta.k", "meta.s", "items.0.v", "items.$[e].v", "extra", "ref"]
)
NUMBER_PATHS = st.sampled_from(["n", "meta.k", "ref", "extra"])
APP_ID_PATHS = st.sampled_from(["app_id", "app_id.x", "app_id.0"])
# Values written to app_id by hostile updates; "app_b" is never returned by A's calls unless
# the engine let it through.
FORGED_APP_IDS = st.sampled_from([B, A, None, 1])


def _fields(paths: Strategy[str], values: Strategy[Any]) -> Strategy[Doc]:
    return st.dictionaries(paths, values, min_size=1, max_size=2)


def _hostile_or(ordinary: Strategy[Doc], hostile: Strategy[Doc]) -> Strategy[Doc]:
    """Mostly ``ordinary``; one time in four, ``hostile`` merged into it."""
    return st.one_of(
        ordinary,
        ordinary,
        ordinary,
        st.tuples(ordinary, hostile).map(lambda pair: {**pair[0], **pair[1]}),
    )


OPERATOR_FIELDS: dict[str, Strategy[Doc]] = {
    "$set": _fields(WRITE_PATHS, WRITE_VALUES),
    "$setOnInsert": _fields(WRITE_PATHS, WRITE_VALUES),
    "$unset": _fields(WRITE_PATHS, st.just("")),
    "$inc": _fields(NUMBER_PATHS, st.integers(-3, 3)),
    "$mul": _fields(NUMBER_PATHS, st.integers(0, 2)),
    "$min": _fields(NUMBER_PATHS, st.integers(-3, 9)),
    "$max": _fields(NUMBER_PATHS, st.integers(-3, 9)),
    "$push": _fields(
        st.just("tags"), st.one_of(SAFE_SCALARS, _wrap("$each", st.lists(SAFE_SCALARS)))
    ),
    "$addToSet": _fields(st.just("tags"), SAFE_SCALARS),
    "$pull": _fields(
        st.sampled_from(["tags", "items"]), st.one_of(SAFE_SCALARS, st.just({"k": 1}))
    ),
    "$pop": _fields(st.just("tags"), st.sampled_from([1, -1])),
    "$rename": _fields(
        st.sampled_from(["title", "meta.s", "extra"]), st.sampled_from(["renamed", "meta.t"])
    ),
    "$currentDate": _fields(st.sampled_from(["updated", "meta.at"]), st.just(True)),
}
HOSTILE_OPERATOR_UPDATES: Strategy[Doc] = st.one_of(
    st.tuples(
        st.sampled_from(["$set", "$setOnInsert", "$min", "$max"]), APP_ID_PATHS, FORGED_APP_IDS
    ).map(lambda t: {t[0]: {t[1]: t[2]}}),
    APP_ID_PATHS.map(lambda path: {"$unset": {path: ""}}),
    APP_ID_PATHS.map(lambda path: {"$currentDate": {path: True}}),
    APP_ID_PATHS.map(lambda path: {"$inc": {path: 1}}),
    st.sampled_from(
        [
            {"$rename": {"title": "app_id"}},
            {"$rename": {"app_id": "owner"}},
            {"$rename": {"meta.app_id": "app_id"}},
            {"$push": {"app_id": "x"}},
        ]
    ),
)
OPERATOR_UPDATES: Strategy[Doc] = _hostile_or(
    st.lists(st.sampled_from(sorted(OPERATOR_FIELDS)), min_size=1, max_size=3, unique=True).flatmap(
        lambda operators: st.fixed_dictionaries({op: OPERATOR_FIELDS[op] for op in operators})
    ),
    HOSTILE_OPERATOR_UPDATES,
)

EXPRESSIONS: Strategy[Any] = st.one_of(
    SAFE_SCALARS.map(lambda value: {"$literal": value}),
    st.sampled_from(
        [
            "$n",
            "$title",
            "$tags",
            "$meta",
            "$meta.s",
            "$items.v",
            "$app_id",
            "$_id",
            "$$ROOT",
            "$secret",
            {"$add": [{"$ifNull": ["$n", 0]}, 1]},
            {"$concat": [{"$toString": "$n"}, "-x"]},
            {"$size": {"$ifNull": ["$tags", []]}},
            {"$eq": ["$app_id", B]},
            {"$cond": [{"$eq": ["$app_id", A]}, 1, 0]},
        ]
    ),
)
NEW_FIELDS = st.sampled_from(["x", "n", "title", "meta.extra", "copy"])
RESHAPE_STAGES: Strategy[Doc] = st.one_of(
    _wrap("$set", _fields(NEW_FIELDS, EXPRESSIONS)),
    _wrap("$addFields", _fields(NEW_FIELDS, EXPRESSIONS)),
    _wrap(
        "$unset", st.one_of(st.sampled_from(["tags", "meta", "app_id"]), st.just(["n", "title"]))
    ),
    _wrap(
        "$project",
        st.sampled_from([{"n": 1, "title": 1}, {"tags": 0}, {"app_id": 0}, {"x": "$app_id"}]),
    ),
    _wrap(
        "$replaceWith",
        st.sampled_from([{"$mergeObjects": ["$$ROOT", {"x": 1}]}, {"n": "$n"}, "$meta"]),
    ),
    st.just({"$replaceRoot": {"newRoot": {"$mergeObjects": [{"y": 2}, "$meta"]}}}),
)
# Stages that give app_id another value or none; only used where the engine must stamp app_id
# afterwards (update pipelines, $merge pipelines, before $out/$merge).
FORGING_STAGES: Strategy[Doc] = st.one_of(
    FORGED_APP_IDS.map(lambda value: {"$set": {"app_id": value}}),
    FORGED_APP_IDS.map(lambda value: {"$addFields": {"app_id": value}}),
    st.just({"$set": {"app_id.x": 1}}),
    st.just({"$unset": "app_id"}),
    st.just({"$replaceWith": {"app_id": B, "n": 1}}),
    st.just({"$replaceWith": {"$mergeObjects": ["$$ROOT", {"app_id": B}]}}),
)
UPDATE_PIPELINES: Strategy[list[Doc]] = st.lists(
    st.one_of(
        RESHAPE_STAGES,
        RESHAPE_STAGES,
        RESHAPE_STAGES,
        RESHAPE_STAGES,
        FORGING_STAGES,
        st.sampled_from([{"$match": {}}, {"$lookup": {"from": "tasks", "as": "j"}}, {"$out": "x"}]),
    ),
    min_size=1,
    max_size=3,
)
UPDATES: Strategy[Any] = st.one_of(OPERATOR_UPDATES, OPERATOR_UPDATES, UPDATE_PIPELINES)

REPLACEMENTS: Strategy[Doc] = st.tuples(
    st.dictionaries(
        st.sampled_from(["n", "title", "tags", "meta", "extra"]), WRITE_VALUES, max_size=3
    ),
    st.sampled_from([None, None, None, None, A, B, 1]),
    st.one_of(st.none(), st.sampled_from(SHARED_IDS)),
).map(
    lambda t: {
        **({"_id": t[2]} if t[2] is not None else {}),
        **t[0],
        **({"app_id": t[1]} if t[1] is not None else {}),
    }
)
ARRAY_FILTERS: Strategy[list[Doc] | None] = st.one_of(
    st.none(), st.integers(-1, 6).map(lambda n: [{"e.k": {"$gte": n}}])
)

# -- aggregation pipelines -----------------------------------------------------------------

# Logical names given to $lookup/$unionWith/$graphLookup/$out/$merge: A's own, A's names that
# look like B's, and names that must be refused.
FOREIGN_NAMES: list[Any] = [
    "_mdb_engine_apps",
    "system.views",
    None,
    {"db": OTHER_DB, "coll": "tasks"},
]
OWN_NAMES = ["tasks", "tasks", "tasks", "notes", "notes", "app_b_tasks", "app_b_notes", "private"]
SOURCE_NAMES: Strategy[Any] = st.sampled_from([*OWN_NAMES, *OWN_NAMES, *FOREIGN_NAMES])
OUT_NAMES: Strategy[Any] = st.sampled_from(
    ["out1", "out1", "tasks", "notes", "app_b_tasks", "app_b_out", "_mdb_engine_apps", None]
)
REFUSED_STAGES: list[Doc] = [
    {"$currentOp": {}},
    {"$collStats": {"count": {}}},
    {"$indexStats": {}},
    {"$documents": [{"secret": "forged"}]},
    {"$listSessions": {}},
    {"$planCacheStats": {}},
    {"$changeStream": {}},
    {"$unknownStage": {}},
    {"$match": {"$where": "true"}},
    {"$addFields": {"x": {"$function": {"body": "function() {}", "args": [], "lang": "js"}}}},
    {"$unionWith": {"pipeline": [{"$documents": [{"x": 1}]}]}},
    {"$lookup": {"pipeline": [{"$documents": [{"x": 1}]}], "as": "j"}},
]
FIRST_STAGES: list[Doc] = [
    {"$geoNear": {"near": [0, 0], "distanceField": "d", "query": {"app_id": B}}},
    {"$search": {"text": {"query": "x", "path": "title"}}},
    {"$vectorSearch": {"index": "v", "path": "e", "queryVector": [0.1], "limit": 1}},
]


@functools.cache
def stages(depth: int) -> Strategy[Doc]:
    """One aggregation stage; ``depth`` bounds the nesting of sub-pipelines."""
    shaping: list[Strategy[Doc]] = [
        filters(upserting=False).map(lambda f: {"$match": f}),
        RESHAPE_STAGES,
        st.sampled_from(
            [
                {"$group": {"_id": "$ref", "c": {"$sum": 1}, "titles": {"$push": "$title"}}},
                {"$group": {"_id": "$app_id", "ids": {"$addToSet": "$_id"}}},
                {"$group": {"_id": None, "docs": {"$push": "$$ROOT"}}},
                {"$sort": {"_id": 1}},
                {"$sort": {"n": -1, "_id": 1}},
                {"$unwind": "$tags"},
                {"$unwind": {"path": "$items", "preserveNullAndEmptyArrays": True}},
            ]
        ),
        st.sampled_from(
            [
                {"$count": "c"},
                {"$sortByCount": "$ref"},
                {"$sample": {"size": 2}},
                {"$redact": {"$cond": [{"$eq": ["$app_id", B]}, "$$KEEP", "$$DESCEND"]}},
                {"$setWindowFields": {"sortBy": {"n": 1}, "output": {"r": {"$rank": {}}}}},
                {"$densify": {"field": "n", "range": {"step": 1, "bounds": [0, 9]}}},
                {"$project": {"secret": 1, "title": 1}},
            ]
        ),
        st.integers(0, 5).map(lambda n: {"$limit": max(n, 1)}),
        st.integers(0, 3).map(lambda n: {"$skip": n}),
    ]
    if depth == 0:
        return st.one_of(*shaping)
    sub = st.lists(stages(depth - 1), max_size=2)
    nested: list[Strategy[Doc]] = [
        st.builds(
            lambda name, local: {
                "$lookup": {"from": name, "localField": local, "foreignField": "_id", "as": "j"}
            },
            SOURCE_NAMES,
            st.sampled_from(["ref", "_id", "n"]),
        ),
        st.builds(
            lambda name, pipeline: {
                "$lookup": {"from": name, "let": {"r": "$ref"}, "pipeline": pipeline, "as": "j"}
            },
            SOURCE_NAMES,
            sub,
        ),
        st.builds(
            lambda name, restrict: {
                "$graphLookup": {
                    "from": name,
                    "startWith": "$ref",
                    "connectFromField": "ref",
                    "connectToField": "_id",
                    "as": "g",
                    "maxDepth": 2,
                    **({"restrictSearchWithMatch": restrict} if restrict is not None else {}),
                }
            },
            SOURCE_NAMES,
            st.one_of(st.none(), filters(upserting=False)),
        ),
        SOURCE_NAMES.map(lambda name: {"$unionWith": name}),
        st.builds(
            lambda name, pipeline: {"$unionWith": {"coll": name, "pipeline": pipeline}},
            SOURCE_NAMES,
            sub,
        ),
        st.dictionaries(st.sampled_from(["f1", "f2"]), sub, min_size=1, max_size=2).map(
            lambda branches: {"$facet": branches}
        ),
    ]
    return st.one_of(*shaping, *shaping, *nested, st.sampled_from(REFUSED_STAGES))


FOREIGN_TARGETS: Strategy[Doc] = st.sampled_from(
    [
        {"db": OTHER_DB, "coll": "tasks"},
        {"db": OTHER_DB, "coll": "app_a_tasks"},
        {"db": "admin", "coll": "x"},
    ]
)
MERGE_TARGETS: Strategy[Any] = st.one_of(
    OUT_NAMES, OUT_NAMES.map(lambda name: {"db": OWN_DB, "coll": name}), FOREIGN_TARGETS
)
MERGE_STAGES: Strategy[Doc] = st.one_of(
    OUT_NAMES.map(lambda name: {"$merge": name}),
    st.builds(
        lambda into, matched, not_matched: {
            "$merge": {"into": into, "whenMatched": matched, "whenNotMatched": not_matched}
        },
        MERGE_TARGETS,
        st.one_of(st.sampled_from(["merge", "replace", "keepExisting", "fail"]), UPDATE_PIPELINES),
        st.sampled_from(["insert", "discard"]),
    ),
)
OUTPUT_STAGES: Strategy[Doc] = st.one_of(
    OUT_NAMES.map(lambda name: {"$out": name}),
    OUT_NAMES.map(lambda name: {"$out": {"db": OWN_DB, "coll": name}}),
    FOREIGN_TARGETS.map(lambda target: {"$out": target}),
    MERGE_STAGES,
    MERGE_STAGES,
    MERGE_STAGES,
)
READ_PIPELINES: Strategy[list[Doc]] = st.tuples(
    st.sampled_from([[], [], [], [], [], *([stage] for stage in FIRST_STAGES)]),
    st.lists(stages(2), max_size=4),
).map(lambda parts: parts[0] + parts[1])
WRITING_PIPELINES: Strategy[list[Doc]] = st.tuples(
    st.lists(stages(1), max_size=3),
    st.lists(FORGING_STAGES, max_size=1),
    OUTPUT_STAGES,
).map(lambda parts: [*parts[0], *parts[1], parts[2]])

# -- calls -------------------------------------------------------------------------------------

COLLECTIONS = st.sampled_from(
    [
        "tasks",
        "tasks",
        "tasks",
        "tasks",
        "notes",
        "notes",
        "app_b_tasks",
        "private",
        "_mdb_engine_apps",
    ]
)
PROJECTIONS: Strategy[Any] = st.sampled_from(
    [
        None,
        {"title": 1},
        {"app_id": 0},
        {"secret": 1},
        ["n"],
        {"items": {"$elemMatch": {"k": {"$gte": 1}}}},
        {"tags": {"$slice": 1}},
    ]
)
SORTS: Strategy[Any] = st.sampled_from([None, [("n", 1)], [("_id", -1)]])
DISTINCT_KEYS = st.sampled_from(["_id", "title", "tags", "meta.s", "items.v", "app_id", "secret"])


@dataclass(frozen=True)
class Call:
    """One method call on app A's scoped collection, shown as it would be written."""

    collection: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        arguments = [repr(arg) for arg in self.args]
        arguments += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return f"db[{self.collection!r}].{self.method}({', '.join(arguments)})"

    async def run(self, db: ScopedDatabase, database_name: str) -> Any:
        method = getattr(db[self.collection], self.method)
        args = _own_database(copy.deepcopy(self.args), database_name)
        kwargs = _own_database(copy.deepcopy(dict(self.kwargs)), database_name)
        result = method(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        if hasattr(result, "to_list"):
            result = await result.to_list()
        return result


def _own_database(value: Any, database_name: str) -> Any:
    if value == OWN_DB:
        return database_name
    if isinstance(value, dict):
        return {key: _own_database(item, database_name) for key, item in value.items()}
    if isinstance(value, list):
        return [_own_database(item, database_name) for item in value]
    if isinstance(value, tuple):
        return tuple(_own_database(item, database_name) for item in value)
    return value


def _call(method: str, *args: Any, **kwargs: Any) -> Callable[[str], Call]:
    """A call waiting for its collection; ``None`` keyword values are left out."""
    options = {key: value for key, value in kwargs.items() if value is not None}
    return lambda collection: Call(collection, method, args, options)


def calls(builders: Strategy[Callable[[str], Call]]) -> Strategy[Call]:
    return st.tuples(COLLECTIONS, builders).map(lambda pair: pair[1](pair[0]))


READ_FILTERS = filters(upserting=False)
READ_CALLS: Strategy[Call] = calls(
    st.one_of(
        st.builds(
            lambda f, projection, sort, skip, limit: _call(
                "find", f, projection, sort=sort, skip=skip, limit=limit
            ),
            READ_FILTERS,
            PROJECTIONS,
            SORTS,
            st.one_of(st.none(), st.integers(0, 3)),
            st.one_of(st.none(), st.integers(0, 4)),
        ),
        st.builds(lambda f, p: _call("find_one", f, p), READ_FILTERS, PROJECTIONS),
        st.builds(
            lambda v, p: _call("find_one", v, p),
            st.sampled_from([*SHARED_IDS, *B_ONLY_IDS]),
            PROJECTIONS,
        ),
        st.builds(lambda f: _call("count_documents", f), READ_FILTERS),
        st.builds(
            lambda f, n: _call("count_documents", f, skip=n, limit=n),
            READ_FILTERS,
            st.integers(1, 3),
        ),
        st.builds(lambda key, f: _call("distinct", key, f), DISTINCT_KEYS, READ_FILTERS),
        st.just(_call("estimated_document_count")),
    )
)


def _upserting(
    build: Callable[[bool], Strategy[Callable[[str], Call]]],
) -> Strategy[Callable[[str], Call]]:
    return st.booleans().flatmap(build)


def _update_call(method: str) -> Strategy[Callable[[str], Call]]:
    return _upserting(
        lambda upsert: st.builds(
            lambda f, update, array_filters: _call(
                method, f, update, upsert=upsert or None, array_filters=array_filters
            ),
            filters(upserting=upsert),
            UPDATES,
            ARRAY_FILTERS,
        )
    )


FIND_AND_MODIFY_OPTIONS = st.fixed_dictionaries(
    {"projection": PROJECTIONS, "sort": SORTS},
    optional={"return_document": st.sampled_from([ReturnDocument.BEFORE, ReturnDocument.AFTER])},
)
INSERT_DOCUMENTS: Strategy[Doc] = st.tuples(
    REPLACEMENTS, st.one_of(st.none(), st.sampled_from([*SHARED_IDS, 7, "new"]))
).map(lambda pair: {**pair[0], "_id": pair[1]} if pair[1] is not None else pair[0])


def _bulk_request() -> Strategy[Any]:
    def upserting_request(upsert: bool) -> Strategy[Any]:
        upserting_filter = filters(upserting=upsert)
        return st.one_of(
            st.builds(lambda f, u: UpdateOne(f, u, upsert=upsert), upserting_filter, UPDATES),
            st.builds(lambda f, u: UpdateMany(f, u, upsert=upsert), upserting_filter, UPDATES),
            st.builds(lambda f, r: ReplaceOne(f, r, upsert=upsert), upserting_filter, REPLACEMENTS),
        )

    return st.one_of(
        INSERT_DOCUMENTS.map(InsertOne),
        READ_FILTERS.map(DeleteOne),
        READ_FILTERS.map(DeleteMany),
        st.booleans().flatmap(upserting_request),
    )


WRITE_CALLS: Strategy[Call] = calls(
    st.one_of(
        _update_call("update_one"),
        _update_call("update_many"),
        _upserting(
            lambda upsert: st.builds(
                lambda f, r: _call("replace_one", f, r, upsert=upsert or None),
                filters(upserting=upsert),
                REPLACEMENTS,
            )
        ),
        st.builds(lambda f: _call("delete_one", f), READ_FILTERS),
        st.builds(lambda f: _call("delete_many", f), READ_FILTERS),
        _upserting(
            lambda upsert: st.builds(
                lambda f, u, options: _call(
                    "find_one_and_update", f, u, upsert=upsert or None, **options
                ),
                filters(upserting=upsert),
                UPDATES,
                FIND_AND_MODIFY_OPTIONS,
            )
        ),
        _upserting(
            lambda upsert: st.builds(
                lambda f, r, options: _call(
                    "find_one_and_replace", f, r, upsert=upsert or None, **options
                ),
                filters(upserting=upsert),
                REPLACEMENTS,
                FIND_AND_MODIFY_OPTIONS,
            )
        ),
        st.builds(
            lambda f, p, s: _call("find_one_and_delete", f, p, s), READ_FILTERS, PROJECTIONS, SORTS
        ),
        INSERT_DOCUMENTS.map(lambda d: _call("insert_one", d)),
        st.builds(
            lambda docs, ordered: _call("insert_many", docs, ordered=ordered),
            st.lists(INSERT_DOCUMENTS, min_size=1, max_size=3),
            st.booleans(),
        ),
        st.builds(
            lambda requests, ordered: _call("bulk_write", requests, ordered=ordered),
            st.lists(_bulk_request(), min_size=1, max_size=4),
            st.booleans(),
        ),
    )
)
PIPELINE_CALLS: Strategy[Call] = calls(
    st.builds(
        lambda pipeline, let: _call("aggregate", pipeline, let=let),
        st.one_of(READ_PIPELINES, READ_PIPELINES, WRITING_PIPELINES),
        st.one_of(st.none(), st.just({"lim": 3})),
    )
)

# Extra keyword arguments: PyMongo forwards the **kwargs of count_documents, distinct,
# aggregate and find_one_and_* as command fields. Ordinary options are mixed with fields that
# name the command's target or query.
RAW_PIPELINES: list[list[Doc]] = [
    [{"$match": {}}],
    [{"$unionWith": "app_b_tasks"}, {"$group": {"_id": 1, "n": {"$sum": 1}}}],
    [
        {"$unionWith": "app_b_tasks"},
        {"$match": {"secret": {"$exists": True}}},
        {"$project": {"n": "$secret"}},
    ],
    [{"$set": {"touched": 1}}, {"$merge": {"into": "app_b_tasks"}}],
]
TARGETING_FIELDS: list[Doc] = [
    {"query": {}},
    {"findAndModify": "app_b_tasks"},
    {"findAndModify": "app_b_tasks", "query": {}},
    {"findAndModify": "app_b_notes", "query": {}},
    {"aggregate": "app_b_tasks"},
    {"distinct": "app_b_tasks"},
    *({"pipeline": pipeline} for pipeline in RAW_PIPELINES),
    {"aggregate": "app_b_tasks", "pipeline": RAW_PIPELINES[0]},
]
COMMAND_FIELDS: Strategy[Doc] = st.one_of(
    st.sampled_from([{"maxTimeMS": 5000}, {"collation": {"locale": "simple"}}, {}]),
    st.sampled_from(TARGETING_FIELDS),
    st.sampled_from(TARGETING_FIELDS),
    st.fixed_dictionaries(
        {},
        optional={
            "pipeline": st.sampled_from(RAW_PIPELINES),
            "aggregate": st.sampled_from(["app_b_tasks", "app_a_tasks"]),
            "distinct": st.sampled_from(["app_b_tasks"]),
            "findAndModify": st.sampled_from(["app_b_tasks", "app_b_notes"]),
            "query": st.sampled_from([{}, {"secret": {"$exists": True}}]),
            "new": st.booleans(),
        },
    ),
)
OPTION_CALLS: Strategy[Call] = calls(
    st.one_of(
        st.builds(lambda f, o: _call("count_documents", f, **o), READ_FILTERS, COMMAND_FIELDS),
        COMMAND_FIELDS.map(lambda o: _call("estimated_document_count", **o)),
        st.builds(
            lambda key, f, o: _call("distinct", key, f, **o),
            DISTINCT_KEYS,
            READ_FILTERS,
            COMMAND_FIELDS,
        ),
        st.builds(
            lambda pipeline, o: _call("aggregate", pipeline, **o), READ_PIPELINES, COMMAND_FIELDS
        ),
        st.builds(lambda f, o: _call("find_one_and_delete", f, **o), READ_FILTERS, COMMAND_FIELDS),
        st.builds(
            lambda f, u, o: _call("find_one_and_update", f, u, **o),
            READ_FILTERS,
            OPERATOR_UPDATES,
            COMMAND_FIELDS,
        ),
        st.builds(
            lambda f, r, o: _call("find_one_and_replace", f, r, **o),
            READ_FILTERS,
            REPLACEMENTS,
            COMMAND_FIELDS,
        ),
    )
)

# -- checking ----------------------------------------------------------------------------------


def b_data_in(value: Any, where: str = "result") -> list[str]:
    """Where ``value`` holds B's data: a string with B's marker, or B's app_id."""
    if isinstance(value, str):
        return [f"{where} = {value!r}"] if MARK in value or value == B else []
    if isinstance(value, Mapping):
        return [hit for key, item in value.items() for hit in b_data_in(item, f"{where}.{key}")]
    if isinstance(value, (list, tuple)):
        return [hit for i, item in enumerate(value) for hit in b_data_in(item, f"{where}[{i}]")]
    return []


def returned(result: Any) -> Any:
    """What a call handed back, as plain values."""
    if isinstance(result, (UpdateResult, DeleteResult)):
        return result.raw_result
    if isinstance(result, InsertOneResult):
        return result.inserted_id
    if isinstance(result, InsertManyResult):
        return result.inserted_ids
    if isinstance(result, BulkWriteResult):
        return result.bulk_api_result
    return result


class World:
    """Apps A and B on one database, reset before every example."""

    def __init__(
        self, a: ScopedDatabase, client: RawClient, raw: AsyncDatabase[Doc], log: CommandLog
    ) -> None:
        self.a = a
        self.client = client
        self.raw = raw
        self.log = log
        self.protected: dict[str, list[Doc]] = {}
        self.admin_collections: set[str] = set()
        self.outcomes: Counter[str] = Counter()
        self.examples = 0
        # Set while an example runs; still set at the next one means it failed: restore B.
        self.dirty = False

    def __repr__(self) -> str:
        return f"World(database={self.raw.name!r})"

    async def protected_snapshot(self, names: list[str]) -> dict[str, list[Doc]]:
        snapshot: dict[str, list[Doc]] = {}
        for name in sorted(names):
            if not name.startswith(f"{A}_"):
                snapshot[name] = await self.raw[name].find().sort("_id", 1).to_list()
        return snapshot

    async def reset(self) -> None:
        names = await self.raw.list_collection_names()
        for name in names:
            is_a_seed = name[len(A) + 1 :] in A_SEED
            if (name.startswith(f"{A}_") and not is_a_seed) or (
                self.dirty and not name.startswith(f"{A}_") and name not in self.protected
            ):
                await self.raw.drop_collection(name)
        for logical, documents in A_SEED.items():
            collection = self.raw[f"{A}_{logical}"]
            await collection.delete_many({})
            await collection.insert_many([{**copy.deepcopy(d), "app_id": A} for d in documents])
        if self.dirty:
            await self.client.drop_database(OTHER_DB)
            for name, documents in self.protected.items():
                await self.raw[name].delete_many({})
                if documents:
                    await self.raw[name].insert_many(copy.deepcopy(documents))
        self.log.clear()

    async def check(self, call: Call) -> None:
        """Run ``call`` as app A on a fresh copy of the data and check every invariant."""
        await self.reset()
        self.dirty = True
        outcome, result = await self.outcome(call)
        event(f"{call.method}: {outcome}")
        self.outcomes[outcome] += 1
        if outcome == "refused":
            sent = [record.command for record in self.log.commands]
            assert not sent, f"a refused call still sent {sent}"

        leaks = b_data_in(returned(result))
        assert not leaks, f"B's data returned to A: {leaks}"
        names = await self.raw.list_collection_names()
        stray = [n for n in names if not n.startswith((f"{A}_", *PROTECTED_PREFIXES))]
        assert not stray, f"collections outside the apps' namespaces: {stray}"
        snapshot = await self.protected_snapshot(names)
        changed = sorted(
            name
            for name in {*snapshot, *self.protected}
            if snapshot.get(name) != self.protected.get(name)
        )
        assert not changed, (
            f"collections of B or of the engine changed: {changed}: "
            f"{[(n, snapshot.get(n)) for n in changed]}"
        )
        for name in names:
            if name.startswith(f"{A}_"):
                documents = await self.raw[name].find().to_list()
                foreign = [d for d in documents if d.get("app_id") != A]
                assert not foreign, f"documents in {name} without app_id {A!r}: {foreign}"
                copied = b_data_in(documents, name)
                assert not copied, f"B's data copied into A's collection: {copied}"
        assert OTHER_DB not in await self.client.list_database_names()
        admin = set(await self.client["admin"].list_collection_names())
        new_in_admin = {n for n in admin - self.admin_collections if not n.startswith("system.")}
        assert not new_in_admin, f"collections created in admin: {new_in_admin}"
        self.examples += 1
        self.dirty = False

    async def outcome(self, call: Call) -> tuple[str, Any]:
        try:
            result = await call.run(self.a, self.raw.name)
        except ScopeViolation:
            return "refused", None
        except PyMongoError:
            return "server error", None
        except (TypeError, ValueError):
            return "invalid", None
        return "ok", result


@pytest.fixture
async def world(
    engine: MongoDBEngine,
    mongo_client: RawClient,
    mongodb_database: str,
    command_log: CommandLog,
    request: pytest.FixtureRequest,
) -> AsyncIterator[World]:
    for slug in (A, B):
        await engine.register_app({"schema_version": "2.0", "slug": slug, "name": slug})
    b = engine.get_scoped_db(B)
    for logical, documents in B_SEED.items():
        await b[logical].insert_many(copy.deepcopy(documents))
    raw = mongo_client[mongodb_database]
    state = World(engine.get_scoped_db(A), mongo_client, raw, command_log)
    state.protected = await state.protected_snapshot(await raw.list_collection_names())
    assert {f"{B}_{logical}" for logical in B_SEED} <= state.protected.keys()
    state.admin_collections = set(await mongo_client["admin"].list_collection_names())
    await mongo_client.drop_database(OTHER_DB)  # in case an earlier run left it on this server
    yield state
    await mongo_client.drop_database(OTHER_DB)
    if not state.dirty:
        # The property is only meaningful if Hypothesis ran many examples and many succeeded.
        minimum = EXAMPLES[request.node.name.removeprefix("test_isolation_of_")]
        assert state.examples >= minimum, (state.examples, state.outcomes)
        assert state.outcomes["ok"] >= state.examples // 5, state.outcomes


@settings(max_examples=EXAMPLES["reads"], **SETTINGS)
@given(call=READ_CALLS)
async def test_isolation_of_reads(world: World, call: Call) -> None:
    await world.check(call)


@settings(max_examples=EXAMPLES["writes"], **SETTINGS)
@given(call=WRITE_CALLS)
async def test_isolation_of_writes(world: World, call: Call) -> None:
    await world.check(call)


@settings(max_examples=EXAMPLES["pipelines"], **SETTINGS)
@given(call=PIPELINE_CALLS)
async def test_isolation_of_pipelines(world: World, call: Call) -> None:
    await world.check(call)


@settings(max_examples=EXAMPLES["driver_options"], **SETTINGS)
@given(call=OPTION_CALLS)
# Failing cases found by the search above, kept so that every run checks them first. PyMongo
# copies these keyword arguments into the command after the engine's scoped filter and
# collection name, so they replace them.
@example(call=Call("tasks", "find_one_and_delete", ({},), TARGETING_FIELDS[2]))
@example(call=Call("tasks", "count_documents", ({},), {"pipeline": RAW_PIPELINES[2]}))
async def test_isolation_of_driver_options(world: World, call: Call) -> None:
    await world.check(call)
