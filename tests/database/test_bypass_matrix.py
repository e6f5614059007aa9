"""Proof from the wire: every scoped method × every known bypass stays inside the app's scope.

Each test is one row of the matrix (a method, a stage form, an access path); its cases are the
bypasses. Every case runs as ``app_a`` on a database it shares with ``app_b``, right after
``command_log.clear()``, once alone and, where MongoDB allows the operation, once more inside a
transaction. A case proves one of two things:

- refused: ``ScopeViolation`` was raised and ``command_log`` recorded nothing at all;
- sent: every recorded command, as the server parses it, names only ``app_a_*`` and pins
  ``app_id`` to ``"app_a"`` (``wire.assert_commands_scoped``); app_b's and the engine's
  collections are unchanged (``dbHash``, and their indexes where a case could touch them); no
  document without ``app_id == "app_a"`` appeared in ``app_a_*``; nothing of app_b came back.

All cases of a row run even when some fail, and the failure lists each of them. A row shares
one engine and database (a fresh pair costs about 0.25 s), so every case compares snapshots
taken just before and just after itself.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bson
import pytest
from bson import Code, ObjectId
from bson.codec_options import CodecOptions, TypeRegistry
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.operations import (
    DeleteMany,
    DeleteOne,
    IndexModel,
    InsertOne,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
)
from wire import APP_ID, assert_commands_scoped, command_problems

from mdb_engine import MongoDBEngine, ScopeViolation
from mdb_engine.database import ScopedCollection, ScopedDatabase
from mdb_engine.testing import CommandLog, CommandRecord

APP = "app_a"
OTHER = "app_b"
SECRET = "SECRET-B"  # in every document of app_b: it must never come back to app_a
TRANSACTION_COMMANDS = frozenset({"commitTransaction", "abortTransaction"})

FUNCTION = {"$function": {"body": "function() { return true; }", "args": [], "lang": "js"}}
ACCUMULATOR = {
    "$accumulator": {
        "init": "function() { return 0; }",
        "accumulate": "function(state) { return state; }",
        "accumulateArgs": [],
        "merge": "function(a, b) { return a; }",
        "lang": "js",
    }
}
POINT = {"type": "Point", "coordinates": [0.0, 0.0]}

Document = dict[str, Any]


class Expect(enum.Enum):
    """What a case must do."""

    SCOPED = "sent in scope, and succeeded"
    REFUSED = "raised before anything was sent"
    SERVER_ERROR = "sent in scope, and refused by the server"
    SCOPED_OR_REFUSED = "refused before sending, or sent in scope and succeeded"
    CONTAINED = "refused before sending, or sent in scope, whatever the result"


@dataclass(frozen=True)
class Ctx:
    """What an operation runs with: app_a's database and, in a transaction, the session."""

    db: ScopedDatabase
    session: AsyncClientSession | None
    db_name: str


@dataclass(frozen=True)
class Snapshot:
    """What a case may not change: other collections, and app_a's documents' app_id."""

    hashes: dict[str, tuple[str, Any]]  # collection -> (md5 of its documents, uuid)
    indexes: dict[str, Any]  # collection outside app_a -> its indexes (when tracked)
    out_of_scope: list[tuple[str, Any]]  # documents in app_a_* whose app_id is not "app_a"
    tasks: list[Document]  # the documents of app_a_tasks (when a check needs them)

    def others(self) -> dict[str, Any]:
        """Everything outside app_a's collections: app_b's, the engine's, their indexes."""
        hashes = {
            name: value
            for name, value in self.hashes.items()
            if not name.startswith((APP + "_", "system."))  # system.views: checked on the wire
        }
        return {"hashes": hashes, "indexes": self.indexes}


Op = Callable[[Ctx], Awaitable[Any]]
Check = Callable[[Snapshot, Snapshot, Any], None]


@dataclass(frozen=True)
class Case:
    """One operation of app_a and what it must do."""

    id: str
    op: Op
    expect: Expect
    in_transaction: bool = True  # whether MongoDB allows the operation in a transaction
    error: type[BaseException] = ScopeViolation
    prepare: Callable[[World], Awaitable[Any]] | None = None
    check: Check | None = None


@dataclass
class Attempt:
    result: Any
    error: BaseException | None
    sent_by_operation: list[CommandRecord]
    sent: list[CommandRecord]


# A document whose app_id is anything but exactly "app_a" (missing, null, list, other string).
_OUT_OF_SCOPE = {"$expr": {"$ne": ["$" + APP_ID, APP]}}


@dataclass
class World:
    """Two apps on one database, seeded, observed by the ``command_log`` fixture."""

    engine: MongoDBEngine
    log: CommandLog
    raw: AsyncDatabase[Document]
    db_name: str
    db_a: ScopedDatabase
    db_b: ScopedDatabase
    track_indexes: bool = False
    codec_options: CodecOptions[Any] | None = None  # to see commands as the server parses them

    async def snapshot(self, *, with_tasks: bool = False) -> Snapshot:
        """``dbHash``, one aggregation over app_a's collections, and indexes or tasks if asked."""
        answer = await self.raw.command("dbHash")
        uuids = answer.get("uuids", {})
        hashes = {name: (md5, uuids.get(name)) for name, md5 in answer["collections"].items()}
        own = sorted(name for name in hashes if name.startswith(APP + "_"))
        out_of_scope: list[tuple[str, Any]] = []
        if own:
            branches = [
                {"$unionWith": {"coll": name, "pipeline": [{"$match": _OUT_OF_SCOPE}, _ns(name)]}}
                for name in own[1:]
            ]
            cursor = await self.raw[own[0]].aggregate(
                [{"$match": _OUT_OF_SCOPE}, _ns(own[0]), *branches]
            )
            out_of_scope = [(document.pop("_ns"), document) for document in await cursor.to_list()]
        indexes = {}
        if self.track_indexes:
            for name in hashes:
                if not name.startswith((APP + "_", "system.")):
                    indexes[name] = await self.raw[name].index_information()
        tasks = []
        if with_tasks:
            tasks = await self.raw[f"{APP}_tasks"].find().sort("_id", 1).to_list()
        return Snapshot(hashes, indexes, out_of_scope, tasks)


def _ns(name: str) -> Document:
    return {"$set": {"_ns": name}}


@pytest.fixture
async def world(
    engine: MongoDBEngine,
    command_log: CommandLog,
    mongo_client: AsyncMongoClient[Document],
    mongodb_database: str,
) -> World:
    for slug in (APP, OTHER):
        await engine.register_app({"schema_version": "2.0", "slug": slug, "name": slug})
    db_a = engine.get_scoped_db(APP)
    db_b = engine.get_scoped_db(OTHER)
    await db_b.tasks.insert_many(
        [
            {"_id": "b-1", "title": f"{SECRET}-1", "n": 1, "tags": ["x"], "ref": "b-1"},
            {"_id": "shared", "title": f"{SECRET}-shared", "n": 2, "tags": ["y"]},
        ]
    )
    await db_b.notes.insert_one({"_id": "bn-1", "title": f"{SECRET}-note", "ref": "b-1"})
    await db_a.tasks.insert_many(
        [
            {"_id": "a-1", "title": "a-1", "n": 1, "tags": ["x"], "ref": "a-1"},
            {"_id": "shared", "title": "a-shared", "n": 2, "tags": ["y"]},
        ]
    )
    await db_a.notes.insert_one({"_id": "an-1", "title": "a-note", "ref": "a-1"})
    raw = mongo_client[mongodb_database]
    return World(engine, command_log, raw, mongodb_database, db_a, db_b)


# -- running cases -----------------------------------------------------------------------------


async def _call(op: Op, ctx: Ctx) -> tuple[Any, BaseException | None]:
    try:
        return await op(ctx), None
    except Exception as error:  # the expectation decides which errors are acceptable
        return None, error


async def _attempt(world: World, case: Case, *, in_transaction: bool) -> Attempt:
    if not in_transaction:
        world.log.clear()
        result, error = await _call(case.op, Ctx(world.db_a, None, world.db_name))
        sent = world.log.commands
        return Attempt(result, error, sent, sent)
    async with world.engine.start_session() as session, await session.start_transaction():
        # A first read starts the transaction on the server, so refusals come mid-way.
        await world.db_a.tasks.find_one({"n": 1}, session=session)
        world.log.clear()
        result, error = await _call(case.op, Ctx(world.db_a, session, world.db_name))
        sent_by_operation = world.log.commands
        if error is not None:
            await session.abort_transaction()
    return Attempt(result, error, sent_by_operation, world.log.commands)


def foreign_data_in(value: Any) -> str | None:
    """A document of another app, or any of app_b's data, anywhere in ``value``.

    Values under ``meta`` are what cases store on purpose (``meta.app_id`` is plain data).
    """
    if isinstance(value, Mapping):
        if APP_ID in value and value[APP_ID] != APP:
            return f"a document with {APP_ID}={value[APP_ID]!r}: {value!r}"
        items: Iterable[Any] = [item for key, item in value.items() if key != "meta"]
    elif isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, str) and SECRET in value:
        return f"data of {OTHER}: {value!r}"
    else:
        return None
    for item in items:
        found = foreign_data_in(item)
        if found:
            return found
    return None


def _describe(attempt: Attempt) -> str:
    names = [record.name for record in attempt.sent_by_operation]
    return f"result={attempt.result!r}, error={attempt.error!r}, sent={names}"


async def run_case(world: World, case: Case, *, in_transaction: bool) -> None:
    """Run one case and assert what it must do (see the module docstring)."""
    if case.prepare is not None:
        await case.prepare(world)
    with_tasks = case.check is not None
    # A refused case that sent nothing cannot have changed anything: no snapshot needed.
    before = None if case.expect is Expect.REFUSED else await world.snapshot(with_tasks=with_tasks)
    attempt = await _attempt(world, case, in_transaction=in_transaction)
    is_refused = isinstance(attempt.error, case.error)
    if case.expect is Expect.REFUSED or (
        case.expect in (Expect.CONTAINED, Expect.SCOPED_OR_REFUSED) and is_refused
    ):
        assert is_refused, f"expected {case.error.__name__}: {_describe(attempt)}"
        assert attempt.sent_by_operation == [], f"refused after sending: {_describe(attempt)}"
        return
    assert before is not None
    after = await world.snapshot(with_tasks=with_tasks)
    if case.expect in (Expect.SCOPED, Expect.SCOPED_OR_REFUSED):
        assert attempt.error is None, f"expected success: {_describe(attempt)}"
        assert any(r.name not in TRANSACTION_COMMANDS for r in attempt.sent), "nothing was sent"
    elif case.expect is Expect.SERVER_ERROR:
        is_driver_error = isinstance(attempt.error, PyMongoError)
        assert is_driver_error, f"expected a driver error: {_describe(attempt)}"
    assert_commands_scoped(attempt.sent, APP, world.db_name, world.codec_options)
    assert after.others() == before.others(), "another app's or the engine's collections changed"
    planted = [entry for entry in after.out_of_scope if entry not in before.out_of_scope]
    assert planted == [], f"app_a's collections now hold foreign documents: {planted!r}"
    assert foreign_data_in(attempt.result) is None, foreign_data_in(attempt.result)
    if case.check is not None:
        case.check(before, after, attempt.result)


async def run_cases(world: World, cases: Sequence[Case], *, in_transaction: bool = True) -> None:
    """Run every case alone, then (where MongoDB allows it) again inside a transaction.

    Fails once at the end, listing every case that did not do what it must.
    """
    assert cases, "a row without cases proves nothing"
    runs = [(case, False) for case in cases]
    if in_transaction:
        runs += [(case, True) for case in cases if case.in_transaction]
    failures: list[str] = []
    for case, is_in_transaction in runs:
        try:
            await run_case(world, case, in_transaction=is_in_transaction)
        except AssertionError as error:
            where = " (in a transaction)" if is_in_transaction else ""
            failures.append(f"[{case.id}{where}] {error}")
    assert not failures, f"{len(failures)} of {len(runs)} runs failed:\n\n" + "\n\n".join(failures)


def rows(table: Mapping[str, Sequence[Case]]) -> list[Any]:
    """One test per row of a matrix; the row's cases are its columns."""
    return [pytest.param(list(cases), id=row) for row, cases in table.items()]


def new_documents(before: Snapshot, after: Snapshot) -> list[Document]:
    known = {document["_id"] for document in before.tasks}
    return [document for document in after.tasks if document["_id"] not in known]


def upserted_one(before: Snapshot, after: Snapshot, result: Any) -> None:
    created = new_documents(before, after)
    assert len(created) == 1, f"expected one upserted document, got {created!r}"
    assert created[0][APP_ID] == APP


def created_nothing(before: Snapshot, after: Snapshot, result: Any) -> None:
    assert new_documents(before, after) == []


# -- operations ------------------------------------------------------------------------------


async def aggregate(
    c: Ctx, pipeline: Sequence[Any], collection: str = "tasks", **kwargs: Any
) -> list[Any]:
    cursor = await c.db[collection].aggregate(list(pipeline), session=c.session, **kwargs)
    return await cursor.to_list()


def pipeline_op(pipeline: Sequence[Any], collection: str = "tasks", **kwargs: Any) -> Op:
    async def op(c: Ctx) -> Any:
        return await aggregate(c, copy.deepcopy(list(pipeline)), collection, **kwargs)

    return op


FilterMethod = Callable[[Ctx, Document], Awaitable[Any]]


async def _bulk_filtered(c: Ctx, query: Document) -> Any:
    return await c.db.tasks.bulk_write(
        [
            UpdateOne(query, {"$set": {"seen": 1}}),
            UpdateMany(query, {"$inc": {"n": 1}}),
            ReplaceOne(query, {"title": "replaced"}),
            DeleteOne(query),
            DeleteMany(query),
        ],
        session=c.session,
    )


FILTER_METHODS: dict[str, FilterMethod] = {
    "find": lambda c, f: c.db.tasks.find(f, session=c.session).to_list(),
    "find_chained": lambda c, f: (
        c.db.tasks.find(f, {"title": 1}, session=c.session).sort("n", -1).skip(0).limit(5).to_list()
    ),
    "find_in_batches": lambda c, f: c.db.tasks.find(f, session=c.session).batch_size(1).to_list(),
    "cursor_distinct": lambda c, f: c.db.tasks.find(f, session=c.session).distinct("title"),
    "find_one": lambda c, f: c.db.tasks.find_one(f, session=c.session),
    "count_documents": lambda c, f: c.db.tasks.count_documents(f, session=c.session),
    "distinct": lambda c, f: c.db.tasks.distinct("title", f, session=c.session),
    "aggregate": lambda c, f: aggregate(c, [{"$match": f}]),
    "update_one": lambda c, f: c.db.tasks.update_one(f, {"$set": {"seen": 1}}, session=c.session),
    "update_many": lambda c, f: c.db.tasks.update_many(
        f, [{"$set": {"seen": 1}}], session=c.session
    ),
    "replace_one": lambda c, f: c.db.tasks.replace_one(f, {"title": "r"}, session=c.session),
    "delete_one": lambda c, f: c.db.tasks.delete_one(f, session=c.session),
    "delete_many": lambda c, f: c.db.tasks.delete_many(f, session=c.session),
    "find_one_and_update": lambda c, f: c.db.tasks.find_one_and_update(
        f, {"$set": {"seen": 1}}, session=c.session
    ),
    "find_one_and_replace": lambda c, f: c.db.tasks.find_one_and_replace(
        f, {"title": "r"}, session=c.session
    ),
    "find_one_and_delete": lambda c, f: c.db.tasks.find_one_and_delete(f, session=c.session),
    "bulk_write": _bulk_filtered,
}


def filter_op(method: FilterMethod, query: Mapping[str, Any]) -> Op:
    async def op(c: Ctx) -> Any:
        return await method(c, copy.deepcopy(dict(query)))

    return op


# -- filters: widening the scope, and server-side JavaScript -----------------------------------

WIDENING_FILTERS: dict[str, Document] = {
    "foreign_app_id": {APP_ID: OTHER},
    "foreign_app_id_eq": {APP_ID: {"$eq": OTHER}},
    "ne": {APP_ID: {"$ne": APP}},
    "in": {APP_ID: {"$in": [APP, OTHER]}},
    "nin": {APP_ID: {"$nin": [APP]}},
    "exists": {APP_ID: {"$exists": True}},
    "not_exists": {APP_ID: {"$exists": False}},
    "regex": {APP_ID: {"$regex": "^app_"}},
    "not": {APP_ID: {"$not": {"$eq": APP}}},
    "or": {"$or": [{APP_ID: APP}, {APP_ID: OTHER}]},
    "or_everything": {"$or": [{}, {APP_ID: OTHER}]},
    "nor": {"$nor": [{APP_ID: APP}]},
    "and_or": {"$and": [{"$or": [{APP_ID: OTHER}, {"n": {"$gte": 0}}]}]},
    "expr": {"$expr": {"$ne": ["$app_id", APP]}},
    "expr_true": {"$expr": True},
    "expr_or": {"$expr": {"$or": [{"$eq": ["$app_id", OTHER]}, True]}},
    "dotted": {"app_id.x": {"$exists": False}},
    "dotted_index": {"app_id.0": OTHER},
    "json_schema": {"$jsonSchema": {"properties": {APP_ID: {"enum": [OTHER]}}}},
    "id_and_foreign_app_id": {"_id": "shared", APP_ID: OTHER},
    "id_operator": {"_id": {"$in": ["shared", "b-1"]}},
}

JAVASCRIPT_FILTERS: dict[str, Document] = {
    "where": {"$where": "true"},
    "where_code": {"$where": Code("function() { return this.app_id == 'app_b'; }")},
    "where_in_or": {"$or": [{"n": 1}, {"$where": "true"}]},
    "where_deep": {"$and": [{"$nor": [{"$or": [{"$where": "false"}]}]}]},
    "where_in_elem_match": {"tags": {"$elemMatch": {"$where": "true"}}},
    "function_in_expr": {"$expr": FUNCTION},
    "function_nested_in_expr": {"$expr": {"$and": [True, {"$eq": [FUNCTION, True]}]}},
    "accumulator_in_expr": {"$expr": {"$eq": [ACCUMULATOR, 0]}},
}

FILTER_ROWS = {
    method: [
        *(
            Case(bypass, filter_op(run, query), Expect.SCOPED)
            for bypass, query in WIDENING_FILTERS.items()
        ),
        *(
            Case(bypass, filter_op(run, query), Expect.REFUSED)
            for bypass, query in JAVASCRIPT_FILTERS.items()
        ),
    ]
    for method, run in FILTER_METHODS.items()
}


@pytest.mark.parametrize("cases", rows(FILTER_ROWS))
async def test_filter_bypasses(world: World, cases: list[Case]) -> None:
    """Widening filters are sent inside ``$and`` with the pin; JavaScript is refused."""
    await run_cases(world, cases)


def _counts_own_tasks(before: Snapshot, after: Snapshot, result: Any) -> None:
    assert result == len(before.tasks)


def _groups_own_tasks(before: Snapshot, after: Snapshot, result: Any) -> None:
    assert result == ([{"_id": APP, "n": len(before.tasks)}] if before.tasks else [])


def _distinct_own_titles(before: Snapshot, after: Snapshot, result: Any) -> None:
    assert sorted(result) == sorted({document["title"] for document in before.tasks})


async def _cursor_list(cursor: Awaitable[Any]) -> list[Any]:
    return list(await (await cursor).to_list())


# Methods called without a filter (or with an empty one) still send the pin.
UNFILTERED_CASES = [
    Case("find", lambda c: c.db.tasks.find(session=c.session).to_list(), Expect.SCOPED),
    Case(
        "find_none",
        lambda c: c.db.tasks.find(None, {"app_id": 0}, session=c.session).to_list(),
        Expect.SCOPED,
    ),
    Case("find_one", lambda c: c.db.tasks.find_one(session=c.session), Expect.SCOPED),
    Case(
        "count_documents",
        lambda c: c.db.tasks.count_documents({}, session=c.session),
        Expect.SCOPED,
        check=_counts_own_tasks,
    ),
    Case(
        "estimated_document_count",
        # As in PyMongo, estimated_document_count takes no session (so no transaction).
        lambda c: c.db.tasks.estimated_document_count(),
        Expect.SCOPED,
        check=_counts_own_tasks,
        in_transaction=False,
    ),
    Case(
        "distinct",
        lambda c: c.db.tasks.distinct("title", session=c.session),
        Expect.SCOPED,
        check=_distinct_own_titles,
    ),
    Case("aggregate_empty", pipeline_op([]), Expect.SCOPED),
    Case(
        "aggregate_group_by_app",
        pipeline_op([{"$group": {"_id": "$app_id", "n": {"$sum": 1}}}]),
        Expect.SCOPED,
        check=_groups_own_tasks,
    ),
    Case(
        "list_indexes",
        lambda c: _cursor_list(c.db.tasks.list_indexes(session=c.session)),
        Expect.SCOPED,
        in_transaction=False,
    ),
    Case(
        "update_many",
        lambda c: c.db.tasks.update_many({}, {"$set": {"x": 1}}, session=c.session),
        Expect.SCOPED,
    ),
    Case(
        "find_one_and_delete",
        lambda c: c.db.tasks.find_one_and_delete({}, session=c.session),
        Expect.SCOPED,
    ),
    Case("delete_many", lambda c: c.db.tasks.delete_many({}, session=c.session), Expect.SCOPED),
]


async def test_unfiltered_methods_are_pinned(world: World) -> None:
    """No filter at all is the widest filter: it is sent as the pin alone."""
    await run_cases(world, UNFILTERED_CASES)


# JavaScript anywhere else a method takes an expression.
JAVASCRIPT_ELSEWHERE_ROWS: dict[str, list[Case]] = {
    "pipeline_stages": [
        Case("match_where", pipeline_op([{"$match": {"$where": "true"}}]), Expect.REFUSED),
        Case("match_expr_function", pipeline_op([{"$match": {"$expr": FUNCTION}}]), Expect.REFUSED),
        Case(
            "group_accumulator",
            pipeline_op([{"$group": {"_id": None, "a": ACCUMULATOR}}]),
            Expect.REFUSED,
        ),
        Case("project_function", pipeline_op([{"$project": {"x": FUNCTION}}]), Expect.REFUSED),
        Case(
            "set_function_nested",
            pipeline_op([{"$set": {"x": {"$cond": [True, {"$add": [1, FUNCTION]}, 0]}}}]),
            Expect.REFUSED,
        ),
        Case(
            "bucket_auto_accumulator",
            pipeline_op(
                [{"$bucketAuto": {"groupBy": "$n", "buckets": 1, "output": {"a": ACCUMULATOR}}}]
            ),
            Expect.REFUSED,
        ),
        Case(
            "facet_where",
            pipeline_op([{"$facet": {"f": [{"$match": {"$where": "true"}}]}}]),
            Expect.REFUSED,
        ),
        Case(
            "lookup_pipeline_where",
            pipeline_op(
                [
                    {
                        "$lookup": {
                            "from": "notes",
                            "as": "j",
                            "pipeline": [{"$match": {"$where": "true"}}],
                        }
                    }
                ]
            ),
            Expect.REFUSED,
        ),
        Case(
            "lookup_let_function",
            pipeline_op(
                [{"$lookup": {"from": "notes", "as": "j", "let": {"v": FUNCTION}, "pipeline": []}}]
            ),
            Expect.REFUSED,
        ),
        Case(
            "graph_lookup_restrict_where",
            pipeline_op(
                [
                    {
                        "$graphLookup": {
                            "from": "notes",
                            "startWith": "$ref",
                            "connectFromField": "ref",
                            "connectToField": "_id",
                            "as": "g",
                            "restrictSearchWithMatch": {"$where": "true"},
                        }
                    }
                ]
            ),
            Expect.REFUSED,
        ),
        Case(
            "union_with_pipeline_function",
            pipeline_op(
                [{"$unionWith": {"coll": "notes", "pipeline": [{"$set": {"x": FUNCTION}}]}}]
            ),
            Expect.REFUSED,
        ),
        Case(
            "geo_near_query_where",
            pipeline_op(
                [{"$geoNear": {"near": POINT, "distanceField": "d", "query": {"$where": "true"}}}]
            ),
            Expect.REFUSED,
        ),
    ],
    "updates": [
        Case(
            "update_one_operator_value",
            lambda c: c.db.tasks.update_one({}, {"$set": {"x": FUNCTION}}, session=c.session),
            Expect.REFUSED,
        ),
        Case(
            "update_one_pipeline_set",
            lambda c: c.db.tasks.update_one({}, [{"$set": {"x": FUNCTION}}], session=c.session),
            Expect.REFUSED,
        ),
        Case(
            "update_many_pipeline_replace_with",
            lambda c: c.db.tasks.update_many({}, [{"$replaceWith": FUNCTION}], session=c.session),
            Expect.REFUSED,
        ),
        Case(
            "bulk_update_pipeline_accumulator",
            lambda c: c.db.tasks.bulk_write(
                [UpdateOne({}, [{"$set": {"x": ACCUMULATOR}}])], session=c.session
            ),
            Expect.REFUSED,
        ),
    ],
    "projection": [
        Case(
            "find",
            lambda c: c.db.tasks.find({}, {"x": FUNCTION}, session=c.session).to_list(),
            Expect.REFUSED,
        ),
        Case(
            "find_one",
            lambda c: c.db.tasks.find_one({"n": 1}, {"x": FUNCTION}, session=c.session),
            Expect.REFUSED,
        ),
        Case(
            "find_one_and_update",
            lambda c: c.db.tasks.find_one_and_update(
                {}, {"$set": {"x": 1}}, projection={"x": FUNCTION}, session=c.session
            ),
            Expect.REFUSED,
        ),
    ],
    "let": [
        Case(
            "aggregate",
            pipeline_op([{"$set": {"v": "$$v"}}], let={"v": FUNCTION}),
            Expect.REFUSED,
        ),
        Case(
            "find",
            lambda c: c.db.tasks.find(
                {"$expr": "$$v"}, let={"v": FUNCTION}, session=c.session
            ).to_list(),
            Expect.REFUSED,
        ),
        Case(
            "update_one",
            lambda c: c.db.tasks.update_one(
                {"$expr": "$$v"}, [{"$set": {"x": "$$v"}}], let={"v": FUNCTION}, session=c.session
            ),
            Expect.REFUSED,
        ),
        Case(
            "delete_many",
            lambda c: c.db.tasks.delete_many(
                {"$expr": "$$v"}, let={"v": FUNCTION}, session=c.session
            ),
            Expect.REFUSED,
        ),
    ],
}


@pytest.mark.parametrize("cases", rows(JAVASCRIPT_ELSEWHERE_ROWS))
async def test_javascript_elsewhere_is_refused(world: World, cases: list[Case]) -> None:
    """``$where``/``$function``/``$accumulator`` are refused wherever user input goes."""
    await run_cases(world, cases)


# -- inserts ---------------------------------------------------------------------------------

INSERT_DOCUMENTS: dict[str, tuple[list[Document], Expect]] = {
    "foreign": ([{APP_ID: OTHER, "title": "t"}], Expect.REFUSED),
    "null": ([{APP_ID: None}], Expect.REFUSED),
    "list": ([{APP_ID: [APP, OTHER]}], Expect.REFUSED),
    "operator": ([{APP_ID: {"$ne": APP}}], Expect.REFUSED),
    "other_type": ([{APP_ID: 1}], Expect.REFUSED),
    "mixed": ([{"title": "ok"}, {APP_ID: OTHER}], Expect.REFUSED),
    "foreign_last_of_many": ([{"title": "1"}, {"title": "2"}, {APP_ID: OTHER}], Expect.REFUSED),
    "all_foreign": ([{APP_ID: OTHER}, {APP_ID: OTHER}], Expect.REFUSED),
    "own": ([{APP_ID: APP, "title": "t"}], Expect.SCOPED),
    "missing": ([{"title": "t"}], Expect.SCOPED),
    "missing_many": ([{"title": "1"}, {"title": "2", APP_ID: APP}], Expect.SCOPED),
    "nested_app_id": ([{"meta": {APP_ID: OTHER}}], Expect.SCOPED),
}


def _insert_op(method: str, documents: list[Document]) -> Op:
    async def op(c: Ctx) -> Any:
        batch = copy.deepcopy(documents)
        if method == "insert_one":
            return await c.db.tasks.insert_one(batch[0], session=c.session)
        if method == "insert_many":
            return await c.db.tasks.insert_many(batch, session=c.session)
        if method == "insert_many_generator":
            return await c.db.tasks.insert_many(iter(batch), session=c.session)
        return await c.db.tasks.bulk_write([InsertOne(d) for d in batch], session=c.session)

    return op


def _all_inserted_are_own(count: int) -> Check:
    def check(before: Snapshot, after: Snapshot, result: Any) -> None:
        created = new_documents(before, after)
        assert len(created) == count
        assert all(document[APP_ID] == APP for document in created)

    return check


INSERT_ROWS = {
    method: [
        Case(
            name,
            _insert_op(method, documents),
            expect,
            check=_all_inserted_are_own(len(documents)) if expect is Expect.SCOPED else None,
        )
        for name, (documents, expect) in INSERT_DOCUMENTS.items()
        if method != "insert_one" or len(documents) == 1
    ]
    for method in ("insert_one", "insert_many", "insert_many_generator", "bulk_write")
}


@pytest.mark.parametrize("cases", rows(INSERT_ROWS))
async def test_insert_bypasses(world: World, cases: list[Case]) -> None:
    """A foreign ``app_id`` anywhere in a batch refuses the whole batch before sending."""
    await run_cases(world, cases)


# -- updates: operator and pipeline forms ------------------------------------------------------

REFUSED_OPERATOR_UPDATES: dict[str, Document] = {
    "set": {"$set": {APP_ID: OTHER}},
    "set_own_value": {"$set": {APP_ID: APP}},
    "set_dotted": {"$set": {"app_id.owner": OTHER}},
    "set_positional": {"$set": {"app_id.$[]": OTHER}},
    "set_among_others": {"$set": {"title": "t", APP_ID: OTHER}},
    "unset": {"$unset": {APP_ID: ""}},
    "rename_away": {"$rename": {APP_ID: "owner"}},
    "rename_onto": {"$rename": {"title": APP_ID}},
    "rename_onto_dotted": {"$rename": {"title": "app_id.x"}},
    "inc": {"$inc": {APP_ID: 1}},
    "mul": {"$mul": {APP_ID: 2}},
    "min": {"$min": {APP_ID: "a"}},
    "max": {"$max": {APP_ID: "z"}},
    "set_on_insert": {"$setOnInsert": {APP_ID: OTHER}},
    "current_date": {"$currentDate": {APP_ID: True}},
    "push": {"$push": {APP_ID: OTHER}},
    "add_to_set": {"$addToSet": {APP_ID: OTHER}},
    "pull": {"$pull": {APP_ID: APP}},
    "pop": {"$pop": {APP_ID: 1}},
    "bit": {"$bit": {APP_ID: {"and": 1}}},
    "second_operator": {"$set": {"title": "t"}, "$unset": {APP_ID: ""}},
}
ALLOWED_OPERATOR_UPDATES: dict[str, Document] = {
    "set_other_field": {"$set": {"title": "t"}},
    "set_nested_app_id": {"$set": {"meta.app_id": OTHER}},
    "rename_to_look_alike": {"$rename": {"title": "app_idx"}},
    "unset_look_alike": {"$unset": {"app_ids": ""}},
}
REFUSED_PIPELINE_UPDATES: dict[str, list[Document]] = {
    "pipeline_set": [{"$set": {APP_ID: OTHER}}],
    "pipeline_set_own_value": [{"$set": {APP_ID: APP}}],
    "pipeline_add_fields": [{"$addFields": {APP_ID: OTHER}}],
    "pipeline_set_dotted": [{"$set": {"app_id.x": 1}}],
    "pipeline_unset": [{"$unset": APP_ID}],
    "pipeline_unset_list": [{"$unset": ["title", APP_ID]}],
    "pipeline_later_stage": [{"$set": {"title": "t"}}, {"$set": {APP_ID: OTHER}}],
    "pipeline_unknown_stage": [{"$lookup": {"from": "notes", "as": "j", "pipeline": []}}],
}
STAMPED_PIPELINE_UPDATES: dict[str, list[Document]] = {
    "pipeline_replace_with_foreign": [{"$replaceWith": {"title": "t", APP_ID: OTHER}}],
    "pipeline_replace_root": [{"$replaceRoot": {"newRoot": {"title": "$title"}}}],
    "pipeline_merge_objects": [{"$replaceWith": {"$mergeObjects": ["$$ROOT", {APP_ID: OTHER}]}}],
    "pipeline_set_nested": [{"$set": {"meta": {APP_ID: OTHER}}}],
}

# Naming app_id in $project may be refused, or stamped over by the final $set: both stay in scope.
PROJECTING_PIPELINE_UPDATES: dict[str, list[Document]] = {
    "pipeline_project_out": [{"$project": {APP_ID: 0}}],
    "pipeline_project_literal": [{"$project": {"title": 1, APP_ID: {"$literal": OTHER}}}],
}

UpdateMethod = Callable[[Ctx, Document, Any], Awaitable[Any]]

UPDATE_METHODS: dict[str, UpdateMethod] = {
    "update_one": lambda c, f, u: c.db.tasks.update_one(f, u, upsert=True, session=c.session),
    "update_many": lambda c, f, u: c.db.tasks.update_many(f, u, upsert=True, session=c.session),
    "find_one_and_update": lambda c, f, u: c.db.tasks.find_one_and_update(
        f, u, upsert=True, return_document=ReturnDocument.AFTER, session=c.session
    ),
    "bulk_update_one": lambda c, f, u: c.db.tasks.bulk_write(
        [UpdateOne(f, u, upsert=True)], session=c.session
    ),
    "bulk_update_many": lambda c, f, u: c.db.tasks.bulk_write(
        [UpdateMany(f, u, upsert=True)], session=c.session
    ),
}


def update_op(method: UpdateMethod, query: Document, update: Any) -> Op:
    async def op(c: Ctx) -> Any:
        return await method(c, copy.deepcopy(query), copy.deepcopy(update))

    return op


UPDATE_ROWS = {
    method: [
        *(
            Case(name, update_op(run, {}, update), Expect.REFUSED)
            for name, update in {**REFUSED_OPERATOR_UPDATES, **REFUSED_PIPELINE_UPDATES}.items()
        ),
        *(
            Case(name, update_op(run, {"n": {"$gte": 0}}, update), Expect.SCOPED)
            for name, update in {**ALLOWED_OPERATOR_UPDATES, **STAMPED_PIPELINE_UPDATES}.items()
        ),
        *(
            Case(name, update_op(run, {"n": {"$gte": 0}}, update), Expect.SCOPED_OR_REFUSED)
            for name, update in PROJECTING_PIPELINE_UPDATES.items()
        ),
    ]
    for method, run in UPDATE_METHODS.items()
}


@pytest.mark.parametrize("cases", rows(UPDATE_ROWS))
async def test_update_bypasses(world: World, cases: list[Case]) -> None:
    """Updates never name ``app_id``; pipeline updates are stamped with it at the end."""
    await run_cases(world, cases)


# -- replacements ------------------------------------------------------------------------------

REPLACEMENTS: dict[str, tuple[Document, Expect]] = {
    "foreign": ({"title": "t", APP_ID: OTHER}, Expect.REFUSED),
    "null": ({"title": "t", APP_ID: None}, Expect.REFUSED),
    "list": ({"title": "t", APP_ID: [APP]}, Expect.REFUSED),
    "operator": ({"title": "t", APP_ID: {"$literal": APP}}, Expect.REFUSED),
    "missing": ({"title": "t"}, Expect.SCOPED),
    "own": ({"title": "t", APP_ID: APP}, Expect.SCOPED),
}

ReplaceMethod = Callable[[Ctx, Document, Document, bool], Awaitable[Any]]

REPLACE_METHODS: dict[str, ReplaceMethod] = {
    "replace_one": lambda c, f, r, up: c.db.tasks.replace_one(f, r, upsert=up, session=c.session),
    "find_one_and_replace": lambda c, f, r, up: c.db.tasks.find_one_and_replace(
        f, r, upsert=up, return_document=ReturnDocument.AFTER, session=c.session
    ),
    "bulk_replace_one": lambda c, f, r, up: c.db.tasks.bulk_write(
        [ReplaceOne(f, r, upsert=up)], session=c.session
    ),
}


def replace_op(method: ReplaceMethod, query: Document, replacement: Document, upsert: bool) -> Op:
    async def op(c: Ctx) -> Any:
        return await method(c, copy.deepcopy(query), copy.deepcopy(replacement), upsert)

    return op


REPLACE_ROWS = {
    method: [
        Case(f"{name}{suffix}", replace_op(run, query, replacement, upsert), expect)
        for name, (replacement, expect) in REPLACEMENTS.items()
        for suffix, query, upsert in (("", {"_id": "a-1"}, False), ("_upsert", {"n": 9}, True))
    ]
    for method, run in REPLACE_METHODS.items()
}


@pytest.mark.parametrize("cases", rows(REPLACE_ROWS))
async def test_replacement_bypasses(world: World, cases: list[Case]) -> None:
    """A replacement with a foreign or malformed ``app_id`` is refused; others are tagged."""
    await run_cases(world, cases)


# -- upserts: the created document carries the app's app_id ----------------------------------

UPSERT_FILTERS: dict[str, tuple[Document, bool]] = {
    # name: (filter, whether the server can infer a single app_id for the new document)
    "no_match": ({"title": "nothing"}, True),
    "ne": ({APP_ID: {"$ne": APP}}, True),
    "nin": ({APP_ID: {"$nin": [APP]}, "title": "nothing"}, True),
    "foreign": ({APP_ID: OTHER}, False),
    "foreign_in": ({APP_ID: {"$in": [OTHER]}}, False),
    "foreign_or": ({"$or": [{APP_ID: OTHER}]}, False),
    "foreign_and": ({"$and": [{APP_ID: OTHER}, {"title": "nothing"}]}, False),
}
UPSERT_UPDATES: dict[str, Any] = {
    "operator": {"$set": {"title": "upserted"}},
    "set_on_insert": {"$setOnInsert": {"title": "upserted"}},
    "pipeline": [{"$set": {"title": "upserted"}}],
}
UPSERT_REPLACEMENTS: dict[str, Document] = {
    "replacement": {"title": "upserted"},
    "replacement_own": {"title": "upserted", APP_ID: APP},
}


def _upsert_case(name: str, op: Op, *, is_inferable: bool) -> Case:
    if is_inferable:
        return Case(name, op, Expect.SCOPED, check=upserted_one)
    # The pin and the foreign equality both name app_id: the server refuses to upsert.
    return Case(name, op, Expect.SERVER_ERROR, check=created_nothing)


UPSERT_ROWS: dict[str, list[Case]] = {
    **{
        method: [
            _upsert_case(
                f"{form}-{filter_name}", update_op(run, query, update), is_inferable=inferable
            )
            for form, update in UPSERT_UPDATES.items()
            for filter_name, (query, inferable) in UPSERT_FILTERS.items()
        ]
        for method, run in UPDATE_METHODS.items()
    },
    **{
        method: [
            # A replacement never takes fields from the filter: the engine's app_id is used.
            _upsert_case(
                f"{form}-{filter_name}",
                replace_op(run, query, replacement, True),
                is_inferable=True,
            )
            for form, replacement in UPSERT_REPLACEMENTS.items()
            for filter_name, (query, _) in UPSERT_FILTERS.items()
        ]
        for method, run in REPLACE_METHODS.items()
    },
}


@pytest.mark.parametrize("cases", rows(UPSERT_ROWS))
async def test_upsert_paths(world: World, cases: list[Case]) -> None:
    """Every upsert either creates one document of app_a or is refused by the server."""
    await run_cases(world, cases)


# -- bulk_write mixing everything ----------------------------------------------------------------


def _allowed_mix(tag: str = "") -> list[Any]:
    """Requests that are all allowed; ``tag`` keeps the upserts of each case distinct."""
    return [
        InsertOne({"title": "new"}),
        InsertOne({"title": "own", APP_ID: APP}),
        UpdateOne({APP_ID: OTHER}, {"$set": {"title": "never"}}),
        UpdateMany({"$or": [{}, {APP_ID: OTHER}]}, {"$inc": {"n": 1}}),
        UpdateOne({"_id": "a-1"}, [{"$replaceWith": {"title": "t", APP_ID: OTHER}}]),
        UpdateOne({"title": f"fresh-{tag}"}, {"$set": {"n": 5}}, upsert=True),
        UpdateMany({"title": f"fresh-2-{tag}"}, [{"$set": {"n": 6}}], upsert=True),
        ReplaceOne({APP_ID: {"$ne": APP}}, {"title": "replaced"}, upsert=True),
        ReplaceOne({"_id": "shared"}, {"title": "replaced", APP_ID: APP}),
        DeleteOne({APP_ID: OTHER}),
        DeleteMany({"$nor": [{APP_ID: APP}]}),
    ]


def _bulk_op(requests: Callable[[Ctx], list[Any]], *, ordered: bool = True) -> Op:
    async def op(c: Ctx) -> Any:
        return await c.db.tasks.bulk_write(requests(c), ordered=ordered, session=c.session)

    return op


def _mix_created_three(before: Snapshot, after: Snapshot, result: Any) -> None:
    created = new_documents(before, after)
    assert len(created) == 5, created  # two inserts and three upserts
    assert result.upserted_count == 3


POISONS: dict[str, Callable[[Ctx], Any]] = {
    "insert_foreign": lambda c: InsertOne({APP_ID: OTHER}),
    "update_set": lambda c: UpdateOne({}, {"$set": {APP_ID: OTHER}}),
    "update_unset": lambda c: UpdateMany({}, {"$unset": {APP_ID: ""}}),
    "update_rename_onto": lambda c: UpdateOne({}, {"$rename": {"title": APP_ID}}),
    "update_inc": lambda c: UpdateOne({}, {"$inc": {APP_ID: 1}}),
    "update_set_on_insert": lambda c: UpdateOne({}, {"$setOnInsert": {APP_ID: OTHER}}, upsert=True),
    "update_current_date": lambda c: UpdateMany({}, {"$currentDate": {APP_ID: True}}),
    "pipeline_set": lambda c: UpdateOne({}, [{"$set": {APP_ID: OTHER}}]),
    "pipeline_unset": lambda c: UpdateMany({}, [{"$unset": APP_ID}]),
    "replace_foreign": lambda c: ReplaceOne({}, {APP_ID: OTHER}),
    "replace_null": lambda c: ReplaceOne({}, {APP_ID: None}, upsert=True),
    "filter_where": lambda c: DeleteMany({"$where": "true"}),
    "filter_function": lambda c: UpdateOne({"$expr": FUNCTION}, {"$set": {"x": 1}}),
    "insert_namespace": lambda c: InsertOne({"x": 1}, namespace=f"{c.db_name}.{OTHER}_tasks"),
    "update_namespace": lambda c: UpdateOne(
        {}, {"$set": {"x": 1}}, namespace=f"{c.db_name}.{OTHER}_tasks"
    ),
    "delete_namespace": lambda c: DeleteMany({}, namespace=f"{c.db_name}._mdb_engine_apps"),
}


def _poisoned(poison: Callable[[Ctx], Any], *, first: bool) -> Callable[[Ctx], list[Any]]:
    def requests(c: Ctx) -> list[Any]:
        return [poison(c), *_allowed_mix()] if first else [*_allowed_mix(), poison(c)]

    return requests


BULK_ROWS: dict[str, list[Case]] = {
    "allowed_mix": [
        Case(
            "ordered",
            _bulk_op(lambda c: _allowed_mix(str(ObjectId()))),
            Expect.SCOPED,
            check=_mix_created_three,
        ),
        Case(
            "unordered",
            _bulk_op(lambda c: _allowed_mix(str(ObjectId())), ordered=False),
            Expect.SCOPED,
            check=_mix_created_three,
        ),
    ],
    "poisoned_last": [
        Case(name, _bulk_op(_poisoned(poison, first=False)), Expect.REFUSED)
        for name, poison in POISONS.items()
    ],
    "poisoned_first_unordered": [
        Case(name, _bulk_op(_poisoned(poison, first=True), ordered=False), Expect.REFUSED)
        for name, poison in POISONS.items()
    ],
}


@pytest.mark.parametrize("cases", rows(BULK_ROWS))
async def test_bulk_write_mixing_everything(world: World, cases: list[Case]) -> None:
    """Allowed requests are each scoped; one bad request refuses the batch before sending."""
    await run_cases(world, cases)


# -- $lookup, $graphLookup and $unionWith into other collections -------------------------------

JOIN_TARGETS: dict[str, tuple[Any, Expect]] = {
    "own_logical": ("notes", Expect.SCOPED),
    "other_physical": (f"{OTHER}_notes", Expect.SCOPED),  # is app_a's "app_b_notes"
    "other_dotted": (f"{OTHER}.notes", Expect.SCOPED),
    "own_physical": (f"{APP}_notes", Expect.SCOPED),
    "engine_registry": ("_mdb_engine_apps", Expect.REFUSED),
    "engine_seed_markers": ("_mdb_engine_initial_data", Expect.REFUSED),
    "parent": (f"../{OTHER}_notes", Expect.REFUSED),
    "cmd": ("$cmd", Expect.REFUSED),
    "system": ("system.views", Expect.REFUSED),
    "unicode_look_alike": ("\u0430pp_b_notes", Expect.REFUSED),  # Cyrillic "а"
    "nul": (f"{OTHER}_notes\x00", Expect.REFUSED),
    "empty": ("", Expect.REFUSED),
    "not_a_string": ([f"{OTHER}_notes"], Expect.REFUSED),
}
JOIN_FORMS: dict[str, Callable[[Any], Document]] = {
    "lookup": lambda target: {
        "$lookup": {"from": target, "localField": "ref", "foreignField": "ref", "as": "joined"}
    },
    "lookup_pipeline": lambda target: {
        "$lookup": {"from": target, "pipeline": [{"$match": {APP_ID: OTHER}}], "as": "joined"}
    },
    "graph_lookup": lambda target: {
        "$graphLookup": {
            "from": target,
            "startWith": "$ref",
            "connectFromField": "ref",
            "connectToField": "ref",
            "as": "joined",
        }
    },
    "union_with": lambda target: {"$unionWith": target},
    "union_with_pipeline": lambda target: {
        "$unionWith": {"coll": target, "pipeline": [{"$match": {APP_ID: {"$ne": APP}}}]}
    },
}
PLACEMENTS: dict[str, Callable[[Document], list[Document]]] = {
    "direct": lambda stage: [stage],
    "in_facet": lambda stage: [{"$facet": {"joined": [stage]}}],
    "in_lookup": lambda stage: [{"$lookup": {"from": "notes", "as": "outer", "pipeline": [stage]}}],
}

JOIN_ROWS = {
    form: [
        Case(
            f"{placement}/{name}",
            pipeline_op(place(build(target))),
            expect,
            # MongoDB 6.0 refuses $unionWith inside a transaction.
            in_transaction="union_with" not in form,
        )
        for placement, place in PLACEMENTS.items()
        for name, (target, expect) in JOIN_TARGETS.items()
    ]
    for form, build in JOIN_FORMS.items()
}


@pytest.mark.parametrize("cases", rows(JOIN_ROWS))
async def test_join_stages_stay_in_the_app(world: World, cases: list[Case]) -> None:
    """Joins take logical names of the app's own collections and get scoped sub-pipelines."""
    await run_cases(world, cases)


async def test_union_with_another_database_is_refused(world: World) -> None:
    """``$unionWith.db`` would read another database: it must not pass through unchecked."""
    cases = [
        Case(
            "union_with_db",
            pipeline_op([{"$unionWith": {"db": "admin", "coll": "notes"}}]),
            Expect.REFUSED,
        ),
        Case(
            "lookup_from_db",
            pipeline_op([{"$lookup": {"from": {"db": "admin", "coll": "notes"}, "as": "j"}}]),
            Expect.REFUSED,
        ),
    ]
    await run_cases(world, cases, in_transaction=False)


# -- $out and $merge -------------------------------------------------------------------------


def _out_op(stages: Callable[[Ctx], list[Document]]) -> Op:
    async def op(c: Ctx) -> Any:
        return await aggregate(c, stages(c))

    return op


def _archive_is_own(before: Snapshot, after: Snapshot, result: Any) -> None:
    # Its documents are checked like every app_a collection: all carry app_a's id.
    assert f"{APP}_archive" in after.hashes, "nothing was written"


OUTPUT_ROWS: dict[str, list[Case]] = {
    "out": [
        Case("other_app_physical", _out_op(lambda c: [{"$out": f"{OTHER}_tasks"}]), Expect.SCOPED),
        Case(
            "own_database_document",
            _out_op(lambda c: [{"$out": {"db": c.db_name, "coll": "archive"}}]),
            Expect.SCOPED,
            check=_archive_is_own,
        ),
        Case(
            "after_set_foreign_app_id",
            _out_op(lambda c: [{"$set": {APP_ID: OTHER}}, {"$out": "archive"}]),
            Expect.SCOPED,
            check=_archive_is_own,
        ),
        Case(
            "after_unset_app_id",
            _out_op(lambda c: [{"$unset": APP_ID}, {"$out": "archive"}]),
            Expect.SCOPED,
            check=_archive_is_own,
        ),
        Case(
            "other_database",
            _out_op(lambda c: [{"$out": {"db": f"{c.db_name}_x", "coll": "tasks"}}]),
            Expect.REFUSED,
        ),
        Case(
            "other_app_in_other_database",
            _out_op(lambda c: [{"$out": {"db": "admin", "coll": f"{OTHER}_tasks"}}]),
            Expect.REFUSED,
        ),
        Case("engine", _out_op(lambda c: [{"$out": "_mdb_engine_apps"}]), Expect.REFUSED),
        Case("system", _out_op(lambda c: [{"$out": "system.js"}]), Expect.REFUSED),
        Case("parent", _out_op(lambda c: [{"$out": f"../{OTHER}_tasks"}]), Expect.REFUSED),
        Case(
            "not_last",
            _out_op(lambda c: [{"$out": "archive"}, {"$match": {}}]),
            Expect.REFUSED,
        ),
        Case(
            "in_facet",
            _out_op(lambda c: [{"$facet": {"f": [{"$out": "archive"}]}}]),
            Expect.REFUSED,
        ),
        Case(
            "in_lookup",
            _out_op(
                lambda c: [
                    {"$lookup": {"from": "notes", "as": "j", "pipeline": [{"$out": "archive"}]}}
                ]
            ),
            Expect.REFUSED,
        ),
    ],
    "merge": [
        Case(
            "other_app_physical", _out_op(lambda c: [{"$merge": f"{OTHER}_tasks"}]), Expect.SCOPED
        ),
        Case(
            "own_database_document",
            _out_op(lambda c: [{"$merge": {"into": {"db": c.db_name, "coll": "archive"}}}]),
            Expect.SCOPED,
            check=_archive_is_own,
        ),
        Case(
            "when_matched_replace_with_new",
            _out_op(
                lambda c: [
                    {"$merge": {"into": "archive", "whenMatched": [{"$replaceWith": "$$new"}]}}
                ]
            ),
            Expect.SCOPED,
            check=_archive_is_own,
        ),
        Case(
            "when_matched_merge_objects_foreign",
            _out_op(
                lambda c: [
                    {
                        "$merge": {
                            "into": "archive",
                            "whenMatched": [
                                {"$replaceWith": {"$mergeObjects": ["$$ROOT", {APP_ID: OTHER}]}}
                            ],
                        }
                    }
                ]
            ),
            Expect.SCOPED,
            check=_archive_is_own,
        ),
        Case(
            "after_set_foreign_app_id",
            _out_op(
                lambda c: [
                    {"$set": {APP_ID: OTHER}},
                    {"$merge": {"into": "archive", "whenMatched": "merge"}},
                ]
            ),
            Expect.SCOPED,
            check=_archive_is_own,
        ),
        Case(
            "other_database",
            _out_op(lambda c: [{"$merge": {"into": {"db": f"{c.db_name}_x", "coll": "tasks"}}}]),
            Expect.REFUSED,
        ),
        Case(
            "engine",
            _out_op(
                lambda c: [{"$merge": {"into": {"db": c.db_name, "coll": "_mdb_engine_apps"}}}]
            ),
            Expect.REFUSED,
        ),
        Case(
            "when_matched_set_app_id",
            _out_op(
                lambda c: [
                    {"$merge": {"into": "archive", "whenMatched": [{"$set": {APP_ID: OTHER}}]}}
                ]
            ),
            Expect.REFUSED,
        ),
        Case(
            "when_matched_set_app_id_from_new",
            _out_op(
                lambda c: [
                    {"$merge": {"into": "archive", "whenMatched": [{"$set": {APP_ID: "$$new.x"}}]}}
                ]
            ),
            Expect.REFUSED,
        ),
        Case(
            "when_matched_unset",
            _out_op(
                lambda c: [{"$merge": {"into": "archive", "whenMatched": [{"$unset": APP_ID}]}}]
            ),
            Expect.REFUSED,
        ),
        Case(
            "when_matched_add_fields_dotted",
            _out_op(
                lambda c: [
                    {
                        "$merge": {
                            "into": "archive",
                            "whenMatched": [{"$addFields": {"app_id.x": 1}}],
                        }
                    }
                ]
            ),
            Expect.REFUSED,
        ),
        Case(
            "when_matched_function",
            _out_op(
                lambda c: [
                    {"$merge": {"into": "archive", "whenMatched": [{"$set": {"x": FUNCTION}}]}}
                ]
            ),
            Expect.REFUSED,
        ),
        Case(
            "let_function",
            _out_op(
                lambda c: [
                    {
                        "$merge": {
                            "into": "archive",
                            "let": {"v": FUNCTION},
                            "whenMatched": [{"$set": {"v": "$$v"}}],
                        }
                    }
                ]
            ),
            Expect.REFUSED,
        ),
        Case(
            "in_facet",
            _out_op(lambda c: [{"$facet": {"f": [{"$merge": "archive"}]}}]),
            Expect.REFUSED,
        ),
        Case(
            "in_union_with",
            _out_op(
                lambda c: [{"$unionWith": {"coll": "notes", "pipeline": [{"$merge": "archive"}]}}]
            ),
            Expect.REFUSED,
        ),
    ],
}


@pytest.mark.parametrize("cases", rows(OUTPUT_ROWS))
async def test_output_stages_stay_in_the_app(world: World, cases: list[Case]) -> None:
    """``$out``/``$merge`` write to the app's own collections only, stamped with its app_id."""
    await world.db_a.archive.insert_one({"_id": "a-1", "title": "archived"})
    await run_cases(world, cases, in_transaction=False)  # MongoDB refuses $out/$merge there


# -- stages that must come first, and stages that are never allowed ------------------------------

FIRST_STAGE_CASES = [
    Case(
        "geo_near_first",
        pipeline_op([{"$geoNear": {"near": POINT, "distanceField": "d"}}], "places"),
        Expect.SCOPED,
    ),
    Case(
        "geo_near_foreign_query",
        pipeline_op(
            [{"$geoNear": {"near": POINT, "distanceField": "d", "query": {APP_ID: OTHER}}}],
            "places",
        ),
        Expect.SCOPED,
    ),
    Case(
        "geo_near_in_lookup",
        pipeline_op(
            [
                {
                    "$lookup": {
                        "from": "places",
                        "as": "near",
                        "pipeline": [{"$geoNear": {"near": POINT, "distanceField": "d"}}],
                    }
                }
            ]
        ),
        Expect.SCOPED,
    ),
    Case(
        "geo_near_second",
        pipeline_op([{"$match": {}}, {"$geoNear": {"near": POINT, "distanceField": "d"}}]),
        Expect.REFUSED,
    ),
    Case(
        "geo_near_in_facet",
        pipeline_op([{"$facet": {"f": [{"$geoNear": {"near": POINT, "distanceField": "d"}}]}}]),
        Expect.REFUSED,
    ),
    # Atlas-only stages: this server refuses them, but what was sent is already scoped.
    Case(
        "search_first",
        pipeline_op([{"$search": {"text": {"query": "a", "path": "title"}}}]),
        Expect.SERVER_ERROR,
    ),
    Case(
        "vector_search_foreign_filter",
        pipeline_op(
            [
                {
                    "$vectorSearch": {
                        "index": "v",
                        "path": "v",
                        "queryVector": [1.0],
                        "numCandidates": 1,
                        "limit": 1,
                        "filter": {APP_ID: OTHER},
                    }
                }
            ]
        ),
        Expect.SERVER_ERROR,
    ),
    Case(
        "search_second",
        pipeline_op([{"$match": {}}, {"$search": {"text": {"query": "a", "path": "t"}}}]),
        Expect.REFUSED,
    ),
]


async def test_first_stages_carry_the_scope(world: World) -> None:
    """``$geoNear``/``$vectorSearch`` take the scope in their query; ``$search`` is followed."""
    await world.db_a.places.create_index([("loc", "2dsphere")])
    await world.db_a.places.insert_one({"_id": "p-1", "loc": POINT})
    await world.db_b.places.insert_one({"_id": "p-1", "loc": POINT, "title": SECRET})
    await run_cases(world, FIRST_STAGE_CASES)


ADMIN_STAGES: dict[str, Any] = {
    "$collStats": {"count": {}},
    "$indexStats": {},
    "$currentOp": {"allUsers": True},
    "$listSessions": {"allUsers": True},
    "$listLocalSessions": {"allUsers": True},
    "$changeStream": {"allChangesForCluster": True},
    "$changeStreamSplitLargeEvent": {},
    "$planCacheStats": {},
    "$documents": [{APP_ID: OTHER, "title": "forged"}],
    "$searchMeta": {"count": {"type": "total"}},
    "$listSearchIndexes": {},
    "$shardedDataDistribution": {},
    "$listSampledQueries": {},
    "$unknownStage": {},
}
ADMIN_PLACEMENTS: dict[str, Callable[[Document], list[Document]]] = {
    **PLACEMENTS,
    "in_union_with": lambda stage: [{"$unionWith": {"coll": "notes", "pipeline": [stage]}}],
    "after_match": lambda stage: [{"$match": {}}, stage],
}

ADMIN_CASES = [
    Case(f"{placement}/{name}", pipeline_op(place({name: spec})), Expect.REFUSED)
    for placement, place in ADMIN_PLACEMENTS.items()
    for name, spec in ADMIN_STAGES.items()
]


async def test_admin_stages_are_refused(world: World) -> None:
    """Stages that describe the server or read outside the app are refused at any depth."""
    await run_cases(world, ADMIN_CASES)


# -- change streams ----------------------------------------------------------------------------


def _watch_op(pipeline: list[Document] | None, target: str | None, **kwargs: Any) -> Op:
    """Open a change stream (of app_a's database when ``target`` is None), then close it."""

    async def op(c: Ctx) -> Any:
        source = c.db if target is None else c.db[target]
        stream = await source.watch(copy.deepcopy(pipeline), **kwargs)
        await stream.close()

    return op


WATCH_PIPELINES: dict[str, tuple[list[Document] | None, dict[str, Any], Expect]] = {
    "default": (None, {}, Expect.SCOPED),
    "match_foreign": ([{"$match": {f"fullDocument.{APP_ID}": OTHER}}], {}, Expect.SCOPED),
    "match_or_everything": ([{"$match": {"$or": [{}, {"ns.coll": "x"}]}}], {}, Expect.SCOPED),
    "match_other_namespace": ([{"$match": {"ns.coll": f"{OTHER}_tasks"}}], {}, Expect.SCOPED),
    "project_app_id_away": ([{"$project": {f"fullDocument.{APP_ID}": 0}}], {}, Expect.SCOPED),
    "update_lookup": (None, {"full_document": "updateLookup"}, Expect.SCOPED),
    "before_change": (None, {"full_document_before_change": "whenAvailable"}, Expect.SCOPED),
    "expanded_events": (None, {"show_expanded_events": True}, Expect.SCOPED),
    "match_where": ([{"$match": {"$where": "true"}}], {}, Expect.REFUSED),
    "project_function": ([{"$project": {"x": FUNCTION}}], {}, Expect.REFUSED),
    "lookup": ([{"$lookup": {"from": "notes", "as": "j", "pipeline": []}}], {}, Expect.REFUSED),
    "union_with": ([{"$unionWith": f"{OTHER}_tasks"}], {}, Expect.REFUSED),
    "change_stream_stage": (
        [{"$changeStream": {"allChangesForCluster": True}}],
        {},
        Expect.REFUSED,
    ),
    "documents": ([{"$documents": [{APP_ID: OTHER}]}], {}, Expect.REFUSED),
    "facet": ([{"$facet": {"f": []}}], {}, Expect.REFUSED),
    "out": ([{"$out": "archive"}], {}, Expect.REFUSED),
    "merge": ([{"$merge": "archive"}], {}, Expect.REFUSED),
    "current_op": ([{"$currentOp": {}}], {}, Expect.REFUSED),
}

WATCH_ROWS: dict[str, list[Case]] = {
    "collection": [
        *(
            Case(name, _watch_op(pipeline, "tasks", **kwargs), expect, in_transaction=False)
            for name, (pipeline, kwargs, expect) in WATCH_PIPELINES.items()
        ),
        Case("other_app_physical", _watch_op(None, f"{OTHER}_tasks"), Expect.SCOPED),
        Case("engine_collection", _watch_op(None, "_mdb_engine_apps"), Expect.REFUSED),
        Case("system_collection", _watch_op(None, "system.views"), Expect.REFUSED),
    ],
    "database": [
        Case(name, _watch_op(pipeline, None, **kwargs), expect, in_transaction=False)
        for name, (pipeline, kwargs, expect) in WATCH_PIPELINES.items()
    ],
}


@pytest.mark.parametrize("cases", rows(WATCH_ROWS))
async def test_change_stream_bypasses(world: World, cases: list[Case]) -> None:
    """Change streams are scoped to the app's collections and the app's documents."""
    await run_cases(world, cases, in_transaction=False)  # MongoDB refuses change streams there


# -- name tricks -------------------------------------------------------------------------------

ALLOWED_NAMES: dict[str, str] = {
    "other_app_physical": f"{OTHER}_tasks",  # app_a's own "app_b_tasks"
    "other_app_dotted": f"{OTHER}.tasks",
    "own_physical": f"{APP}_tasks",
    "hyphen": "tasks-copy",
}
REFUSED_NAMES: dict[str, Any] = {
    "parent": f"../{OTHER}_tasks",
    "slash": f"tasks/../../{OTHER}_tasks",
    "cmd": "$cmd",
    "dollar_inside": f"{OTHER}_tasks$cmd",
    "system_users": "system.users",
    "system_views": "system.views",
    "system_js": "system.js",
    "engine_registry": "_mdb_engine_apps",
    "engine_prefix": "_mdb_engine",
    "engine_seed_markers": "_mdb_engine_initial_data",
    "underscore": "_private",
    "nul": f"{OTHER}_tasks\x00",
    "empty": "",
    "dot": ".",
    "empty_segment": "a..b",
    "trailing_dot": "tasks.",
    "leading_space": " tasks",
    "cyrillic_look_alike": "\u0430pp_b_tasks",
    "fullwidth_look_alike": "\uff41pp_b_tasks",
    "zero_width_space": "app\u200b_b_tasks",
    "combining_mark": "tasks\u0301",
    "too_long": "x" * 121,
}


async def _touch(c: Ctx, collection: ScopedCollection) -> list[Any]:
    await collection.insert_one({"title": "via a name"}, session=c.session)
    return await collection.find({}, session=c.session).to_list()


async def _create_and_read(c: Ctx, name: str) -> list[Any]:
    collection = await c.db.create_collection(name, session=c.session)
    return await collection.find({}, session=c.session).to_list()


async def _rename_to(c: Ctx, name: str) -> Any:
    return await c.db.scratch.rename(name)


async def _create_scratch(world: World) -> None:
    await world.raw[f"{APP}_scratch"].insert_one({APP_ID: APP, "title": "scratch"})


NAME_PATHS: dict[str, Callable[[Ctx, Any], Awaitable[Any]]] = {
    "attribute": lambda c, name: _touch(c, getattr(c.db, name)),
    "item": lambda c, name: _touch(c, c.db[name]),
    "get_collection": lambda c, name: _touch(c, c.db.get_collection(name)),
    "create_collection": _create_and_read,
    "drop_collection": lambda c, name: c.db.drop_collection(name, session=c.session),
    "rename": _rename_to,
    "list_collection_names": lambda c, name: c.db.list_collection_names(
        filter={"name": name}, session=c.session
    ),
    "list_collection_names_in": lambda c, name: c.db.list_collection_names(
        filter={"name": {"$in": ["tasks", name]}}, session=c.session
    ),
}
# MongoDB refuses these inside a transaction, whatever the name.
NOT_IN_TRANSACTION = frozenset(
    {
        "drop_collection",
        "rename",
        "create_collection",
        "list_collection_names",
        "list_collection_names_in",
    }
)


def _name_op(path: Callable[[Ctx, Any], Awaitable[Any]], name: Any) -> Op:
    async def op(c: Ctx) -> Any:
        return await path(c, name)

    return op


def _name_cases(path_name: str) -> list[Case]:
    path = NAME_PATHS[path_name]
    allowed_in_transaction = path_name not in NOT_IN_TRANSACTION
    prepare = _create_scratch if path_name == "rename" else None
    cases = [
        Case(
            label,
            _name_op(path, name),
            Expect.SCOPED,
            in_transaction=allowed_in_transaction,
            prepare=prepare,
        )
        for label, name in ALLOWED_NAMES.items()
    ]
    for label, name in REFUSED_NAMES.items():
        # Attributes that start with "_" are never collections: AttributeError, as for any object.
        error = AttributeError if path_name == "attribute" and name.startswith("_") else None
        cases.append(
            Case(
                label,
                _name_op(path, name),
                Expect.REFUSED,
                in_transaction=allowed_in_transaction,
                error=error or ScopeViolation,
                prepare=prepare,
            )
        )
    if path_name in ("item", "get_collection", "create_collection", "drop_collection"):
        for label, name in {"not_a_string": 42, "none": None, "bytes": b"app_b_tasks"}.items():
            cases.append(Case(label, _name_op(path, name), Expect.REFUSED, in_transaction=False))
    return cases


NAME_ROWS = {path_name: _name_cases(path_name) for path_name in NAME_PATHS}


@pytest.mark.parametrize("cases", rows(NAME_ROWS))
async def test_name_tricks(world: World, cases: list[Case]) -> None:
    """Every way of naming a collection maps to ``app_a_<name>`` or is refused."""
    await run_cases(world, cases)


def _command(*args: Any, **kwargs: Any) -> Op:
    async def op(c: Ctx) -> Any:
        return await c.db.command(*args, session=c.session, **kwargs)

    return op


async def _list_collections(c: Ctx) -> Any:
    cursor = await c.db.list_collections(filter={"name": "tasks"}, session=c.session)
    return await cursor.to_list()


_VALIDATOR = {"$jsonSchema": {"bsonType": "object", "additionalProperties": True}}

# collMod is not allowed in a transaction, and neither is anything else db.command takes here.
COMMAND_ROWS: dict[str, list[Case]] = {
    "allowed": [
        Case(
            "coll_mod_validator",
            _command("collMod", "tasks", validator=_VALIDATOR),
            Expect.SCOPED,
            in_transaction=False,
        ),
        Case(
            "coll_mod_document_form",
            _command({"collMod": "tasks", "validationLevel": "moderate"}),
            Expect.SCOPED,
            in_transaction=False,
        ),
        Case(
            "coll_mod_of_another_apps_name_is_this_apps",
            _command("collMod", "app_b_tasks", validator=_VALIDATOR),
            Expect.SERVER_ERROR,
            in_transaction=False,
        ),
        Case("list_collections", _list_collections, Expect.SCOPED, in_transaction=False),
    ],
    "refused": [
        Case(label, op, Expect.REFUSED, in_transaction=False)
        for label, op in {
            "drop": _command("drop", "tasks"),
            "find": _command({"find": "tasks"}),
            "db_hash": _command("dbHash"),
            "list_collections_command": _command("listCollections"),
            "coll_mod_view_on": _command("collMod", "tasks", viewOn="app_b_tasks", pipeline=[]),
            "coll_mod_pipeline_in_document": _command({"collMod": "tasks", "pipeline": []}),
            "coll_mod_index": _command("collMod", "tasks", index={"name": "x", "hidden": True}),
            "coll_mod_where": _command("collMod", "tasks", validator={"$where": "true"}),
            "coll_mod_function": _command(
                "collMod",
                "tasks",
                validator={"$expr": {"$function": {"body": "1", "args": [], "lang": "js"}}},
            ),
            "coll_mod_engine_collection": _command("collMod", "_mdb_engine_apps", validator={}),
            "coll_mod_system": _command("collMod", "system.views", validator={}),
            "coll_mod_not_a_name": _command("collMod", 42, validator={}),
            "coll_mod_validator_not_a_document": _command("collMod", "tasks", validator="x"),
            "empty_document": _command({}),
            "not_a_command": _command(42),
        }.items()
    ],
}


@pytest.mark.parametrize("cases", rows(COMMAND_ROWS))
async def test_database_commands(world: World, cases: list[Case]) -> None:
    """``db.command`` runs only collMod of the app's own collection's validation."""
    await run_cases(world, cases)


async def test_drop_collection_of_another_apps_collection_object(world: World) -> None:
    """Passing app_b's collection object to app_a's database still only touches app_a."""
    case = Case(
        "drop_collection_of_other_app_object",
        lambda c: c.db.drop_collection(world.db_b.tasks, session=c.session),
        Expect.CONTAINED,
    )
    await run_cases(world, [case], in_transaction=False)


# -- keyword arguments that overwrite fields of the command ------------------------------------


async def _create_view_and_read(
    c: Ctx, name: str, view_on: str, pipeline: list[Document]
) -> list[Any]:
    view = await c.db.create_collection(name, viewOn=view_on, pipeline=pipeline)
    return await view.find({}).to_list()


KEYWORD_OVERRIDE_ROWS: dict[str, dict[str, Op]] = {
    "find_one_and_modify": {
        "find_one_and_update-query": lambda c: c.db.tasks.find_one_and_update(
            {"_id": "a-1"}, {"$set": {"title": "t"}}, query={}
        ),
        "find_one_and_update-findAndModify": lambda c: c.db.tasks.find_one_and_update(
            {}, {"$set": {"title": "pwned"}}, findAndModify=f"{OTHER}_tasks", query={}
        ),
        "find_one_and_replace-findAndModify": lambda c: c.db.tasks.find_one_and_replace(
            {}, {"title": "stolen"}, findAndModify=f"{OTHER}_tasks", query={}
        ),
        "find_one_and_delete-findAndModify": lambda c: c.db.tasks.find_one_and_delete(
            {}, findAndModify=f"{OTHER}_tasks", query={}
        ),
        "find_one_and_delete-engine_registry": lambda c: c.db.tasks.find_one_and_delete(
            {}, findAndModify="_mdb_engine_apps", query={"_id": OTHER}
        ),
    },
    "reads": {
        "distinct-query": lambda c: c.db.tasks.distinct("title", query={}),
        "aggregate-aggregate": lambda c: aggregate(c, [], aggregate=f"{OTHER}_tasks"),
        "distinct-distinct": lambda c: c.db.tasks.distinct("title", distinct=f"{OTHER}_tasks"),
        "count_documents-aggregate": lambda c: c.db.tasks.count_documents(
            {}, aggregate=f"{OTHER}_tasks"
        ),
        "count_documents-pipeline": lambda c: c.db.tasks.count_documents(
            {},
            pipeline=[{"$unionWith": f"{OTHER}_tasks"}, {"$group": {"_id": 1, "n": {"$sum": 1}}}],
        ),
        "estimated_document_count-pipeline": lambda c: c.db.tasks.estimated_document_count(
            pipeline=[{"$merge": f"{OTHER}_tasks"}]
        ),
    },
    "indexes": {
        "create_index-createIndexes": lambda c: c.db.tasks.create_index(
            "n", createIndexes=f"{OTHER}_tasks"
        ),
        "create_indexes-createIndexes": lambda c: c.db.tasks.create_indexes(
            [IndexModel("title", name="planted")], createIndexes=f"{OTHER}_tasks"
        ),
        "drop_index-dropIndexes": lambda c: c.db.tasks.drop_index(
            "title_1", dropIndexes=f"{OTHER}_tasks"
        ),
        "drop_indexes-dropIndexes": lambda c: c.db.tasks.drop_indexes(dropIndexes=f"{OTHER}_tasks"),
    },
    "views": {
        "create_collection-viewOn_other_app": lambda c: _create_view_and_read(
            c, "mirror", f"{OTHER}_tasks", [{"$set": {APP_ID: APP}}]
        ),
        "create_collection-viewOn_engine": lambda c: _create_view_and_read(
            c, "registry", "_mdb_engine_apps", [{"$set": {APP_ID: APP}}]
        ),
        "create_collection-view_pipeline_union": lambda c: _create_view_and_read(
            c, "union", f"{APP}_tasks", [{"$unionWith": f"{OTHER}_tasks"}, {"$set": {APP_ID: APP}}]
        ),
    },
    "collections": {
        "rename-renameCollection": lambda c: c.db.notes.rename(
            "stolen", renameCollection=f"{c.db_name}.{OTHER}_tasks"
        ),
        "rename-to": lambda c: c.db.tasks.rename(
            "moved", to=f"{c.db_name}.{OTHER}_notes", dropTarget=True
        ),
        "drop-encrypted_fields": lambda c: c.db.stolen.drop(
            encrypted_fields={"escCollection": f"{OTHER}_notes", "fields": []}
        ),
        "drop_collection-encrypted_fields": lambda c: c.db.drop_collection(
            "scratch",
            encrypted_fields={
                "escCollection": f"{OTHER}_tasks",
                "ecocCollection": "_mdb_engine_apps",
                "fields": [],
            },
        ),
    },
}


@pytest.mark.parametrize(
    "cases",
    rows(
        {
            row: [Case(name, op, Expect.CONTAINED) for name, op in ops.items()]
            for row, ops in KEYWORD_OVERRIDE_ROWS.items()
        }
    ),
)
async def test_keyword_arguments_cannot_rewrite_the_command(
    world: World, cases: list[Case]
) -> None:
    """Extra keyword arguments reach PyMongo, which copies them into the command document.

    Whatever they are, the command must stay in app_a's scope or be refused before sending.
    """
    world.track_indexes = True
    await world.raw[f"{OTHER}_tasks"].create_index("title")
    await run_cases(world, cases, in_transaction=False)


# -- values the engine cannot see into --------------------------------------------------------


class Opaque:
    """A value the engine cannot inspect; the codec below turns it into a document."""

    def __init__(self, document: Document) -> None:
        self.document = document


def _encode_opaque(value: Any) -> Any:
    return value.document if isinstance(value, Opaque) else value


OPAQUE_CODEC: CodecOptions[Any] = CodecOptions(
    type_registry=TypeRegistry(fallback_encoder=_encode_opaque)
)


def repeated(key: str, hidden: Any, shown: Any) -> RawBSONDocument:
    """``{key: hidden, key: shown}`` as BSON: read as a mapping, only ``shown`` is seen."""
    first = bson.encode({key: hidden})[4:-1]
    second = bson.encode({key: shown})[4:-1]
    body = first + second
    return RawBSONDocument((len(body) + 5).to_bytes(4, "little") + body + b"\x00")


def _opaque_tasks(c: Ctx) -> ScopedCollection:
    return c.db.get_collection("tasks", codec_options=OPAQUE_CODEC)


SMUGGLING_CASES = [
    Case(
        "codec-update_set",
        lambda c: _opaque_tasks(c).update_one(
            {"_id": "a-1"}, {"$set": Opaque({APP_ID: OTHER})}, session=c.session
        ),
        Expect.CONTAINED,
    ),
    Case(
        "codec-update_rename_onto",
        lambda c: _opaque_tasks(c).update_many(
            {}, {"$rename": Opaque({"title": APP_ID})}, session=c.session
        ),
        Expect.CONTAINED,
    ),
    Case(
        "codec-find_where",
        lambda c: (
            _opaque_tasks(c)
            .find({"$and": [Opaque({"$where": "true"})]}, session=c.session)
            .to_list()
        ),
        Expect.CONTAINED,
    ),
    Case(
        "codec-aggregate_match_where",
        lambda c: _cursor_list(
            _opaque_tasks(c).aggregate([{"$match": Opaque({"$where": "true"})}], session=c.session)
        ),
        Expect.CONTAINED,
    ),
    Case(
        "raw-update_one_repeated_set",
        lambda c: c.db.tasks.update_one(
            {"_id": "a-1"},
            repeated("$set", {APP_ID: OTHER}, {"title": "t"}),
            session=c.session,
        ),
        Expect.CONTAINED,
    ),
    Case(
        "raw-find_one_and_update_repeated_set",
        lambda c: c.db.tasks.find_one_and_update(
            {"_id": "shared"},
            repeated("$set", {APP_ID: OTHER}, {"title": "t"}),
            session=c.session,
        ),
        Expect.CONTAINED,
    ),
    Case(
        "raw-bulk_repeated_unset",
        lambda c: c.db.tasks.bulk_write(
            [UpdateMany({}, repeated("$unset", {APP_ID: ""}, {"title": ""}))], session=c.session
        ),
        Expect.CONTAINED,
    ),
    Case(
        "raw-find_repeated_where",
        lambda c: c.db.tasks.find(
            {"$or": [repeated("$and", [{"$where": "true"}], [{"n": 1}])]}, session=c.session
        ).to_list(),
        Expect.CONTAINED,
    ),
    Case(
        "raw-aggregate_repeated_where",
        pipeline_op([{"$match": repeated("$and", [{"$where": "true"}], [{"n": 1}])}]),
        Expect.CONTAINED,
    ),
    Case(
        "raw-insert_repeated_app_id",
        lambda c: c.db.tasks.insert_one(repeated(APP_ID, OTHER, APP), session=c.session),
        Expect.CONTAINED,
    ),
    Case(
        "raw-replace_repeated_app_id",
        lambda c: c.db.tasks.replace_one(
            {"_id": "a-1"}, repeated(APP_ID, OTHER, APP), session=c.session
        ),
        Expect.CONTAINED,
    ),
]


async def test_values_the_engine_cannot_see_into(world: World) -> None:
    """What the server parses is what must stay in scope, not what Python showed the engine.

    A custom type encoder can turn any object into a document after the engine checked it,
    and a ``RawBSONDocument`` can repeat a field name: read as a mapping only the last value
    shows, but the server applies both.
    """
    world.codec_options = OPAQUE_CODEC
    await run_cases(world, SMUGGLING_CASES)


# -- find_one by _id: the one bare query, checked on the way back ------------------------------

ID_PROJECTIONS: dict[str, Any] = {
    "none": None,
    "exclude_app_id": {APP_ID: 0},
    "exclude_app_id_and_id": {APP_ID: 0, "_id": 0},
    "include_title": {"title": 1},
    "include_title_no_id": {"title": 1, "_id": 0},
    "include_id_only": {"_id": 1},
    "exclude_id_only": {"_id": 0},
    "include_app_id": {APP_ID: 1},
    "exclude_title": {"title": 0},
    "list": ["title"],
}


async def _outcome(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except OperationFailure as error:
        return ("OperationFailure", error.code)


async def test_find_one_by_id_answers_as_pymongo(world: World) -> None:
    """``find_one`` by ``_id`` alone (sent bare or pinned) answers exactly as PyMongo does."""
    raw = world.raw[f"{APP}_tasks"]
    projections = {**ID_PROJECTIONS, "mixed": {"title": 1, APP_ID: 0}}
    failures = []
    for projection_name, projection in projections.items():
        for lookup in ("a-1", {"_id": "a-1"}, "b-1", "shared"):
            world.log.clear()
            found = await _outcome(world.db_a.tasks.find_one(lookup, projection))
            sent = world.log.commands
            expected = await _outcome(raw.find_one(lookup, projection))
            problems = command_problems(sent, APP, world.db_name)
            if found != expected or problems:
                failures.append(
                    f"{projection_name}/{lookup!r}: {found!r} != {expected!r}, {problems}"
                )
    assert failures == []


PLANTED_APP_IDS: dict[str, Any] = {
    "foreign": OTHER,
    "missing": ...,
    "null": None,
    "other_type": 1,
    "list_with_both": [APP, OTHER],
}


async def _plant(world: World, planted_app_id: Any, _id: str) -> Document:
    planted: Document = {"_id": _id, "title": f"{SECRET}-planted", "n": 1}
    if planted_app_id is not ...:
        planted[APP_ID] = planted_app_id
    await world.raw[f"{APP}_tasks"].insert_one(planted)
    return planted


async def test_find_one_by_id_ignores_a_planted_document(world: World) -> None:
    """A document without app_a's id planted in ``app_a_tasks`` is never returned by ``_id``.

    The query is the bare ``{"_id": ...}`` of ARCHITECTURE §7: the check on the returned
    document is what keeps it out.
    """
    for label, planted_app_id in PLANTED_APP_IDS.items():
        _id = f"planted-{label}"
        await _plant(world, planted_app_id, _id)
        lookups: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            ((_id,), {}),
            (({"_id": _id},), {}),
            *(((_id, projection), {}) for projection in ID_PROJECTIONS.values()),
            ((_id,), {"projection": {APP_ID: 0}}),
            ((_id,), {"comment": "c", "max_time_ms": 1000, "hint": [("_id", 1)]}),
        ]
        for args, kwargs in lookups:
            world.log.clear()
            found = await world.db_a.tasks.find_one(*args, **kwargs)
            assert found is None, (label, args, kwargs, found)
            [find] = world.log.commands
            assert find.command["filter"] == {"_id": _id}, (label, args, kwargs, find.command)
            assert_commands_scoped(world.log.commands, APP, world.db_name)


async def test_scoped_operations_ignore_a_planted_document(world: World) -> None:
    """Every other read and write pins app_id on the server: planted documents are invisible."""
    planted = [
        await _plant(world, planted_app_id, f"planted-{label}")
        for label, planted_app_id in PLANTED_APP_IDS.items()
        if label != "list_with_both"  # an array holding "app_a" matches the pin by design
    ]
    ids = [document["_id"] for document in planted]
    tasks = world.db_a.tasks
    world.log.clear()
    assert await tasks.find_one({"_id": {"$in": ids}}) is None
    assert await tasks.find({"_id": {"$in": ids}}).to_list() == []
    assert await tasks.count_documents({"n": 1}) == 1
    assert sorted(await tasks.distinct("title")) == ["a-1", "a-shared"]
    assert await (await tasks.aggregate([{"$match": {"n": 1}}])).to_list() != []
    assert (await tasks.update_many({}, {"$set": {"touched": True}})).matched_count == 2
    assert await tasks.find_one_and_delete({"_id": ids[0]}) is None
    assert (await tasks.delete_many({"n": 1})).deleted_count == 1
    assert_commands_scoped(world.log.commands, APP, world.db_name)
    raw = world.raw[f"{APP}_tasks"]
    assert await raw.find({"_id": {"$in": ids}}).sort("_id", 1).to_list() == sorted(
        planted, key=lambda document: document["_id"]
    )


# -- the change stream on the wire and in the events -------------------------------------------


@pytest.mark.parametrize("target", ["database", "collection"])
async def test_change_stream_delivers_only_own_events(
    world: World, target: str, mongodb_database: str
) -> None:
    """Events of app_b, and of documents planted in app_a's collection, never arrive."""
    world.log.clear()
    source = world.db_a if target == "database" else world.db_a.tasks
    async with await source.watch(max_await_time_ms=100) as stream:
        await world.raw[f"{OTHER}_tasks"].insert_one(
            {"_id": "b-new", APP_ID: OTHER, "title": f"{SECRET}-new"}
        )
        await world.raw[f"{APP}_tasks"].insert_one(
            {"_id": "planted", APP_ID: OTHER, "title": f"{SECRET}-planted"}
        )
        await world.db_a.tasks.insert_one({"_id": "a-new", "title": "a-new"})
        events = []
        for _ in range(50):
            event = await stream.try_next()
            if event is not None:
                events.append(event)
                if event.get("documentKey", {}).get("_id") == "a-new":
                    break
    assert [event["documentKey"]["_id"] for event in events] == ["a-new"]
    assert foreign_data_in(events) is None
    assert_commands_scoped(world.log.commands, APP, mongodb_database)


# -- the checker itself: it must reject every escape it claims to catch ------------------------

DB = "mdbtest_checker"


def _record(name: str, command: Document, database: str = DB) -> CommandRecord:
    return CommandRecord(name, database, command)


PIN = {APP_ID: APP}
SCOPED_MATCH = {"$match": PIN}
STAMP = {"$set": {APP_ID: APP}}

ACCEPTED_RECORDS: dict[str, CommandRecord] = {
    "find_pinned": _record("find", {"find": "app_a_tasks", "filter": PIN}),
    "find_and": _record("find", {"find": "app_a_tasks", "filter": {"$and": [{"n": 1}, PIN]}}),
    "find_by_id": _record(
        "find", {"find": "app_a_tasks", "filter": {"_id": 1}, "limit": 1, "singleBatch": True}
    ),
    "get_more": _record("getMore", {"getMore": 1, "collection": "app_a_tasks"}),
    "aggregate_lookup": _record(
        "aggregate",
        {
            "aggregate": "app_a_tasks",
            "pipeline": [
                SCOPED_MATCH,
                {"$lookup": {"from": "app_a_notes", "as": "j", "pipeline": [SCOPED_MATCH]}},
                STAMP,
                {"$merge": {"into": "app_a_archive", "whenMatched": [STAMP]}},
            ],
        },
    ),
    "insert": _record("insert", {"insert": "app_a_tasks", "documents": [{"_id": 1, **PIN}]}),
    "update_pipeline": _record(
        "update",
        {"update": "app_a_tasks", "updates": [{"q": PIN, "u": [{"$set": {"x": 1}}, STAMP]}]},
    ),
    "commit": _record("commitTransaction", {"commitTransaction": 1}, "admin"),
    "database_stream": _record(
        "aggregate",
        {
            "aggregate": 1,
            "pipeline": [
                {"$changeStream": {}},
                {
                    "$match": {
                        "$and": [
                            {"ns.coll": {"$regex": "^app_a_"}},
                            {f"fullDocument.{APP_ID}": {"$in": [APP, None]}},
                        ]
                    }
                },
            ],
        },
    ),
}

REJECTED_RECORDS: dict[str, CommandRecord] = {
    "find_unpinned": _record("find", {"find": "app_a_tasks", "filter": {"title": "x"}}),
    "find_no_filter": _record("find", {"find": "app_a_tasks"}),
    "find_or": _record("find", {"find": "app_a_tasks", "filter": {"$or": [PIN, {APP_ID: "b"}]}}),
    "find_in": _record("find", {"find": "app_a_tasks", "filter": {APP_ID: {"$in": [APP, "b"]}}}),
    "find_and_without_pin": _record(
        "find", {"find": "app_a_tasks", "filter": {"$and": [{APP_ID: {"$ne": "b"}}]}}
    ),
    "find_pin_and_more": _record(
        "find", {"find": "app_a_tasks", "filter": {"$and": [PIN], "$or": [{}]}}
    ),
    "find_pin_value_list": _record("find", {"find": "app_a_tasks", "filter": {APP_ID: [APP]}}),
    "find_where_beside_pin": _record(
        "find", {"find": "app_a_tasks", "filter": {"$and": [{"$where": "1"}, PIN]}}
    ),
    "find_function_in_projection": _record(
        "find", {"find": "app_a_tasks", "filter": PIN, "projection": {"x": FUNCTION}}
    ),
    "find_other_app": _record("find", {"find": "app_b_tasks", "filter": PIN}),
    "find_engine": _record("find", {"find": "_mdb_engine_apps", "filter": PIN}),
    "find_other_database": _record("find", {"find": "app_a_tasks", "filter": PIN}, "other"),
    "find_by_id_operator": _record(
        "find",
        {"find": "app_a_tasks", "filter": {"_id": {"$ne": 1}}, "limit": 1, "singleBatch": True},
    ),
    "find_by_id_many": _record("find", {"find": "app_a_tasks", "filter": {"_id": 1}}),
    "find_by_id_and_more": _record(
        "find",
        {"find": "app_a_tasks", "filter": {"_id": 1, "n": 1}, "limit": 1, "singleBatch": True},
    ),
    "find_by_id_without_app_id": _record(
        "find",
        {
            "find": "app_a_tasks",
            "filter": {"_id": 1},
            "limit": 1,
            "singleBatch": True,
            "projection": {"title": 1},
        },
    ),
    "get_more_other_app": _record("getMore", {"getMore": 1, "collection": "app_b_tasks"}),
    "get_more_database_stream_unseen": _record(
        "getMore", {"getMore": 1, "collection": "$cmd.aggregate"}
    ),
    "count_unpinned": _record("count", {"count": "app_a_tasks", "query": {}}),
    "distinct_unpinned": _record("distinct", {"distinct": "app_a_tasks", "key": "x"}),
    "aggregate_unscoped": _record("aggregate", {"aggregate": "app_a_tasks", "pipeline": []}),
    "aggregate_match_later": _record(
        "aggregate", {"aggregate": "app_a_tasks", "pipeline": [{"$project": {}}, SCOPED_MATCH]}
    ),
    "aggregate_lookup_other_app": _record(
        "aggregate",
        {
            "aggregate": "app_a_tasks",
            "pipeline": [
                SCOPED_MATCH,
                {"$lookup": {"from": "app_b_tasks", "as": "j", "pipeline": [SCOPED_MATCH]}},
            ],
        },
    ),
    "aggregate_lookup_unscoped": _record(
        "aggregate",
        {
            "aggregate": "app_a_tasks",
            "pipeline": [
                SCOPED_MATCH,
                {"$lookup": {"from": "app_a_x", "as": "j", "localField": "a", "foreignField": "b"}},
            ],
        },
    ),
    "aggregate_union_with_other_database": _record(
        "aggregate",
        {
            "aggregate": "app_a_tasks",
            "pipeline": [
                SCOPED_MATCH,
                {"$unionWith": {"db": "admin", "coll": "app_a_x", "pipeline": [SCOPED_MATCH]}},
            ],
        },
    ),
    "aggregate_union_with_short": _record(
        "aggregate",
        {"aggregate": "app_a_tasks", "pipeline": [SCOPED_MATCH, {"$unionWith": "app_a_x"}]},
    ),
    "aggregate_graph_lookup_unrestricted": _record(
        "aggregate",
        {
            "aggregate": "app_a_tasks",
            "pipeline": [SCOPED_MATCH, {"$graphLookup": {"from": "app_a_x", "as": "g"}}],
        },
    ),
    "aggregate_facet_lookup_engine": _record(
        "aggregate",
        {
            "aggregate": "app_a_tasks",
            "pipeline": [
                SCOPED_MATCH,
                {
                    "$facet": {
                        "f": [
                            {
                                "$lookup": {
                                    "from": "_mdb_engine_apps",
                                    "as": "j",
                                    "pipeline": [SCOPED_MATCH],
                                }
                            }
                        ]
                    }
                },
            ],
        },
    ),
    "aggregate_out_unstamped": _record(
        "aggregate", {"aggregate": "app_a_tasks", "pipeline": [SCOPED_MATCH, {"$out": "app_a_x"}]}
    ),
    "aggregate_merge_other_database": _record(
        "aggregate",
        {
            "aggregate": "app_a_tasks",
            "pipeline": [SCOPED_MATCH, STAMP, {"$merge": {"into": {"db": "o", "coll": "app_a_x"}}}],
        },
    ),
    "aggregate_merge_when_matched_unstamped": _record(
        "aggregate",
        {
            "aggregate": "app_a_tasks",
            "pipeline": [
                SCOPED_MATCH,
                STAMP,
                {"$merge": {"into": "app_a_x", "whenMatched": [{"$replaceWith": "$$new"}]}},
            ],
        },
    ),
    "aggregate_current_op": _record(
        "aggregate", {"aggregate": "app_a_tasks", "pipeline": [SCOPED_MATCH, {"$currentOp": {}}]}
    ),
    "aggregate_database_not_stream": _record(
        "aggregate", {"aggregate": 1, "pipeline": [{"$currentOp": {}}]}
    ),
    "change_stream_unscoped": _record(
        "aggregate", {"aggregate": "app_a_tasks", "pipeline": [{"$changeStream": {}}]}
    ),
    "change_stream_database_without_namespace": _record(
        "aggregate",
        {
            "aggregate": 1,
            "pipeline": [{"$changeStream": {}}, {"$match": {f"fullDocument.{APP_ID}": APP}}],
        },
    ),
    "insert_foreign": _record("insert", {"insert": "app_a_tasks", "documents": [{APP_ID: "b"}]}),
    "insert_missing": _record("insert", {"insert": "app_a_tasks", "documents": [{"x": 1}]}),
    "update_unpinned": _record(
        "update", {"update": "app_a_tasks", "updates": [{"q": {}, "u": {"$set": {"x": 1}}}]}
    ),
    "update_set_app_id": _record(
        "update", {"update": "app_a_tasks", "updates": [{"q": PIN, "u": {"$set": {APP_ID: "b"}}}]}
    ),
    "update_rename_onto": _record(
        "update",
        {"update": "app_a_tasks", "updates": [{"q": PIN, "u": {"$rename": {"x": "app_id.y"}}}]},
    ),
    "update_pipeline_unstamped": _record(
        "update", {"update": "app_a_tasks", "updates": [{"q": PIN, "u": [{"$set": {"x": 1}}]}]}
    ),
    "update_pipeline_names_app_id": _record(
        "update",
        {"update": "app_a_tasks", "updates": [{"q": PIN, "u": [{"$unset": APP_ID}, STAMP]}]},
    ),
    "update_repeated_operator": _record(
        "update",
        {
            "update": "app_a_tasks",
            "updates": [{"q": PIN, "u": repeated("$set", {APP_ID: "b"}, {"x": 1})}],
        },
    ),
    "update_replacement_foreign": _record(
        "update", {"update": "app_a_tasks", "updates": [{"q": PIN, "u": {APP_ID: "b"}}]}
    ),
    "delete_unpinned": _record("delete", {"delete": "app_a_tasks", "deletes": [{"q": {}}]}),
    "find_and_modify_other_app": _record(
        "findAndModify", {"findAndModify": "app_b_tasks", "query": PIN, "remove": True}
    ),
    "find_and_modify_unpinned": _record(
        "findAndModify", {"findAndModify": "app_a_tasks", "query": {}, "remove": True}
    ),
    "list_collections_unscoped": _record("listCollections", {"listCollections": 1, "filter": {}}),
    "create_view_other_app": _record(
        "create", {"create": "app_a_v", "viewOn": "app_b_tasks", "pipeline": [SCOPED_MATCH]}
    ),
    "rename_from_other_app": _record(
        "renameCollection",
        {"renameCollection": f"{DB}.app_b_tasks", "to": f"{DB}.app_a_x"},
        "admin",
    ),
    "drop_indexes_other_app": _record("dropIndexes", {"dropIndexes": "app_b_tasks", "index": "*"}),
    "drop_engine": _record("drop", {"drop": "_mdb_engine_apps"}),
    "unknown_command": _record("eval", {"eval": "db.dropDatabase()"}),
    "commit_elsewhere": _record("commitTransaction", {"commitTransaction": 1}),
}


@pytest.mark.parametrize("record", ACCEPTED_RECORDS.values(), ids=ACCEPTED_RECORDS.keys())
def test_checker_accepts_scoped_commands(record: CommandRecord) -> None:
    assert command_problems([record], APP, DB) == []


@pytest.mark.parametrize("record", REJECTED_RECORDS.values(), ids=REJECTED_RECORDS.keys())
def test_checker_rejects_escapes(record: CommandRecord) -> None:
    assert command_problems([record], APP, DB) != []
    with pytest.raises(AssertionError, match="escape the scope"):
        assert_commands_scoped([record], APP, DB)


def test_checker_reads_what_a_custom_codec_sends() -> None:
    record = _record(
        "update",
        {"update": "app_a_tasks", "updates": [{"q": PIN, "u": {"$set": Opaque({APP_ID: "b"})}}]},
    )
    assert command_problems([record], APP, DB, OPAQUE_CODEC) != []
    # Without the codec the value cannot even be encoded: that is a problem too.
    assert command_problems([record], APP, DB) != []
    harmless = _record(
        "update",
        {"update": "app_a_tasks", "updates": [{"q": PIN, "u": {"$set": Opaque({"x": 1})}}]},
    )
    assert command_problems([harmless], APP, DB, OPAQUE_CODEC) == []
