"""Property: junk given to app A's scoped collection never reaches app B, and never crashes.

``test_isolation_property`` builds its input from a grammar of supported operators. This
module throws junk instead: random nested documents and arrays whose keys are drawn from
MongoDB's query, update and expression operators and aggregation stages (supported, refused and
unknown alike), the field names the sandbox cares about (``app_id``, ``from``, ``into``, ``db``…)
and random text, with values of every BSON type (bytes, ObjectId, datetime, Decimal128, regular
expressions, JavaScript code, 64-bit overflows, NaN), sometimes nested past MongoDB's depth
limit. The junk goes in as filters, updates, replacements, documents, pipelines and keyword
arguments, on the app's collections and on names it must not reach.

Each call must end in one of:

- success;
- ``ScopeViolation`` or ``InputTooDeep``, with no command sent;
- an error of PyMongo, BSON or the server: a ``PyMongoError`` or ``BSONError``, or an exception
  raised inside ``pymongo``/``bson`` themselves (their argument checks raise ``TypeError``,
  ``ValueError``, ``OverflowError``…).

Any other exception is a crash of the engine. After every call the invariants of
``test_isolation_property.World.check`` hold (B's and the engine's collections unchanged,
nothing of B's in the result or copied into A's collections, no stray collections or databases),
and every command that reached the server is scoped to A (``wire.assert_commands_scoped``).
"""

from __future__ import annotations

import datetime
import re
import traceback
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.errors import BSONError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.errors import PyMongoError
from pymongo.operations import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from test_isolation_property import B_SEED, MARK, A, B, Call, RawClient, World
from wire import assert_commands_scoped

from mdb_engine import InputTooDeep, MongoDBEngine, ScopeViolation
from mdb_engine.testing import CommandLog

Doc = dict[str, Any]
Strategy = st.SearchStrategy

EXAMPLES = {"reads": 250, "writes": 300, "pipelines": 300, "keyword_arguments": 150}
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}
# Where PyMongo and BSON live: an exception raised by their own code is their answer to bad
# arguments, passed through unchanged as the sandbox promises.
DRIVER_PACKAGES = tuple(
    str(Path(module.__file__).parent)
    for module in (__import__("pymongo"), __import__("bson"))
    if module.__file__
)

# Python's TypeError for a call that does not match the method's signature.
SIGNATURE_MISMATCH = re.compile(
    r"\(\) (got an unexpected keyword argument|got multiple values for argument"
    r"|takes .* positional argument|missing \d+ required)"
)

# -- junk ---------------------------------------------------------------------------------------

QUERY_OPERATORS = [
    "$and", "$or", "$nor", "$not", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin",
    "$exists", "$type", "$regex", "$options", "$expr", "$elemMatch", "$size", "$all", "$mod",
    "$text", "$search", "$where", "$jsonSchema", "$comment", "$geoWithin", "$near", "$bitsAllSet",
    "$sampleRate",
]  # fmt: skip
UPDATE_OPERATORS = [
    "$set", "$unset", "$inc", "$mul", "$rename", "$setOnInsert", "$min", "$max", "$push", "$pull",
    "$pullAll", "$addToSet", "$each", "$position", "$slice", "$sort", "$pop", "$bit",
    "$currentDate", "$[]", "$[e]", "$",
]  # fmt: skip
STAGES = [
    "$match", "$project", "$group", "$lookup", "$unionWith", "$graphLookup", "$facet", "$out",
    "$merge", "$addFields", "$set", "$unset", "$replaceRoot", "$replaceWith", "$unwind", "$sort",
    "$limit", "$skip", "$count", "$sortByCount", "$bucket", "$sample", "$redact",
    "$setWindowFields", "$densify", "$fill", "$geoNear", "$search", "$searchMeta",
    "$vectorSearch", "$documents", "$currentOp", "$collStats", "$indexStats", "$changeStream",
    "$listSessions", "$planCacheStats", "$unknownStage",
]  # fmt: skip
EXPRESSION_OPERATORS = [
    "$function", "$accumulator", "$literal", "$getField", "$setField", "$mergeObjects", "$cond",
    "$ifNull", "$concat", "$toString", "$let", "$map", "$filter", "$reduce", "$objectToArray",
    "$arrayToObject", "$sum", "$push", "$first", "$top",
]  # fmt: skip
FIELD_NAMES = [
    "app_id", "app_id.x", "app_id.0", "_id", "n", "title", "tags", "meta.app_id", "items.$",
    "from", "as", "coll", "db", "into", "on", "pipeline", "localField", "foreignField", "let",
    "whenMatched", "whenNotMatched", "newRoot", "restrictSearchWithMatch", "startWith",
    "connectFromField", "connectToField", "query", "filter", "path", "body", "args", "lang",
]  # fmt: skip
KEYS: Strategy[str] = st.one_of(
    st.sampled_from(QUERY_OPERATORS + UPDATE_OPERATORS + STAGES + EXPRESSION_OPERATORS),
    st.sampled_from(FIELD_NAMES),
    st.text(max_size=6),
    st.text(max_size=6).map(lambda text: "$" + text),
)
# Strings that are values; never "app_b" or B's marker, so that B's data in a result can only
# have come from B.
TEXT_VALUES: Strategy[str] = st.one_of(
    st.sampled_from(
        [
            "tasks", "notes", "app_b_tasks", "app_b_notes", "_mdb_engine_apps", "system.views",
            "app_a_tasks", "admin", "local", "config", "$app_id", "$$ROOT", "$$CURRENT", "$_id",
            "$secret", "$$NOW", "function() { return true; }", "js", "", "$", ".", "app_a",
        ]
    ),
    st.text(max_size=8),
).filter(lambda text: text != B and MARK not in text)  # fmt: skip
SCALARS: Strategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10),
    st.integers(),  # beyond 64 bits too: BSON cannot hold them
    st.sampled_from([2**63 - 1, -(2**63), 2**63, 2**64, -(2**64) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT_VALUES,
    TEXT_VALUES,
    st.binary(max_size=8),
    st.builds(ObjectId),
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
    st.integers(-(10**30), 10**30).map(lambda n: Decimal128(str(n))),
    st.sampled_from(
        [
            re.compile("^a", re.IGNORECASE),
            Regex(".*", "x"),
            Code("function() { return true; }"),
            Code("this.app_id", {"x": 1}),
            Int64(7),
            Decimal128("NaN"),
            Decimal128("-Infinity"),
            Decimal128("1E+6144"),
            Binary(b"\x00\x01", 5),
            Binary(bytes(16), 4),
            uuid.UUID(int=1),
            MinKey(),
            MaxKey(),
            Timestamp(0, 0),
            b"\xff",
            (1, 2),
            {1: "a key that is not a string"},
        ]
    ),
)
JUNK: Strategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(KEYS, children, max_size=3),
    ),
    max_leaves=12,
)
DOCUMENTS: Strategy[Doc] = st.dictionaries(KEYS, JUNK, max_size=4)


class Deep(dict[str, Any]):
    """A deeply nested document that Hypothesis can print (its printer recurses)."""

    depth = 0

    def __repr__(self) -> str:
        return f"Deep(depth={self.depth})"


def nested(value: Any, depth: int) -> Deep:
    """``value`` inside ``depth`` documents that look like ``$and``/``$not``/fields."""
    for level in range(depth - 1):
        value = {("$and", "$not", "n", "$elemMatch")[level % 4]: value}
    outer = Deep({"$or": value})
    outer.depth = depth
    return outer


def sometimes_deep(junk: Strategy[Any]) -> Strategy[Any]:
    """``junk``, or one time in eight nested far down, on both sides of MongoDB's limit of 200
    levels (the test's own copying of arguments stops a few hundred levels deep)."""
    return st.one_of(
        *[junk] * 7,
        st.builds(nested, junk, st.sampled_from([40, 99, 150, 199, 201, 300])),
    )


FILTERS: Strategy[Any] = sometimes_deep(st.one_of(DOCUMENTS, JUNK))
UPDATES: Strategy[Any] = sometimes_deep(
    st.one_of(
        st.dictionaries(st.sampled_from(UPDATE_OPERATORS), JUNK, min_size=1, max_size=3),
        st.lists(st.dictionaries(st.sampled_from(STAGES), JUNK, max_size=2), max_size=3),
        JUNK,
    )
)
PIPELINES: Strategy[Any] = sometimes_deep(
    st.one_of(
        st.lists(
            st.one_of(
                st.dictionaries(st.sampled_from(STAGES), JUNK, min_size=1, max_size=1),
                st.dictionaries(st.sampled_from(STAGES), DOCUMENTS, min_size=1, max_size=1),
                DOCUMENTS,
            ),
            max_size=4,
        ),
        JUNK,
    )
)
KEYWORD_ARGUMENTS: Strategy[Doc] = st.dictionaries(
    st.sampled_from(
        [
            "projection", "sort", "skip", "limit", "hint", "collation", "let", "upsert",
            "array_filters", "comment", "max_time_ms", "batch_size", "allowDiskUse", "filter",
            "pipeline", "query", "aggregate", "update", "findAndModify", "distinct", "new",
            "bypass_document_validation", "ordered", "return_document", "maxTimeMS", "cursor",
        ]
    ),
    JUNK,
    max_size=3,
)  # fmt: skip
COLLECTIONS: Strategy[str] = st.sampled_from(
    [*["tasks"] * 6, *["notes"] * 3, "app_b_tasks", "_mdb_engine_apps", "system.views", "$x", ""]
)


def _request(kind: str, first: Any, second: Any) -> Any:
    """A bulk-write request, or the junk itself when PyMongo refuses to build one."""
    try:
        if kind == "insert":
            return InsertOne(first)
        if kind == "delete_one":
            return DeleteOne(first)
        if kind == "delete_many":
            return DeleteMany(first)
        if kind == "replace":
            return ReplaceOne(first, second)
        if kind == "update_one":
            return UpdateOne(first, second)
        return UpdateMany(first, second)
    except (TypeError, ValueError):
        return first


BULK_REQUESTS: Strategy[Any] = st.builds(
    _request,
    st.sampled_from(
        ["insert", "delete_one", "delete_many", "replace", "update_one", "update_many"]
    ),
    FILTERS,
    UPDATES,
)


def call(method: str, *arguments: Strategy[Any], keywords: bool = False) -> Strategy[Call]:
    """A call of ``method`` with arguments drawn from ``arguments`` (and junk keywords)."""
    extra = KEYWORD_ARGUMENTS if keywords else st.just({})
    return st.builds(
        lambda collection, args, kwargs: Call(collection, method, tuple(args), kwargs),
        COLLECTIONS,
        st.tuples(*arguments),
        extra,
    )


READ_CALLS = st.one_of(
    call("find", FILTERS),
    call("find", FILTERS, JUNK),
    call("find_one", FILTERS),
    call("find_one", JUNK, JUNK),
    call("count_documents", FILTERS),
    call("distinct", st.one_of(TEXT_VALUES, JUNK), FILTERS),
    call("delete_one", FILTERS),
    call("delete_many", FILTERS),
    call("find_one_and_delete", FILTERS),
)
WRITE_CALLS = st.one_of(
    call("insert_one", sometimes_deep(DOCUMENTS)),
    call("insert_one", JUNK),
    call("insert_many", st.lists(sometimes_deep(DOCUMENTS), max_size=3)),
    call("insert_many", JUNK),
    call("update_one", FILTERS, UPDATES),
    call("update_many", FILTERS, UPDATES),
    call("replace_one", FILTERS, sometimes_deep(DOCUMENTS)),
    call("replace_one", FILTERS, JUNK),
    call("find_one_and_update", FILTERS, UPDATES),
    call("find_one_and_replace", FILTERS, sometimes_deep(DOCUMENTS)),
    call("bulk_write", st.lists(BULK_REQUESTS, max_size=3)),
)
PIPELINE_CALLS = st.one_of(
    call("aggregate", PIPELINES),
    call("aggregate", PIPELINES),
    call("watch", PIPELINES),
    call("update_many", FILTERS, PIPELINES),
    call("find_one_and_update", FILTERS, PIPELINES),
)
KEYWORD_CALLS = st.one_of(
    call("find", FILTERS, keywords=True),
    call("find_one", FILTERS, keywords=True),
    call("count_documents", FILTERS, keywords=True),
    call("distinct", TEXT_VALUES, FILTERS, keywords=True),
    call("aggregate", PIPELINES, keywords=True),
    call("update_one", FILTERS, UPDATES, keywords=True),
    call("replace_one", FILTERS, DOCUMENTS, keywords=True),
    call("delete_many", FILTERS, keywords=True),
    call("find_one_and_update", FILTERS, UPDATES, keywords=True),
    call("find_one_and_replace", FILTERS, DOCUMENTS, keywords=True),
    call("find_one_and_delete", FILTERS, keywords=True),
    call("insert_one", DOCUMENTS, keywords=True),
)

# -- checking ---------------------------------------------------------------------------------


def is_from_the_driver(error: BaseException) -> bool:
    """Whether ``error`` was raised by PyMongo's or BSON's own code."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(DRIVER_PACKAGES)


def is_an_argument_check(error: BaseException) -> bool:
    """Whether ``error`` is a ``TypeError``/``ValueError`` about the arguments: Python's own
    (a keyword the method does not take, as PyMongo's would refuse it) or one the engine raised
    on purpose, as PyMongo does (``filter must be a mapping``), rather than one that escaped
    from the engine's code (``'int' object is not iterable``)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames or not isinstance(error, (TypeError, ValueError)):
        return False
    if isinstance(error, TypeError) and SIGNATURE_MISMATCH.search(str(error)):
        return True
    innermost = frames[-1]
    return "/mdb_engine/" in innermost.filename and (innermost.line or "").startswith("raise ")


class JunkWorld(World):
    """The two apps of the isolation property; junk calls get their own outcomes."""

    last_outcome = ""

    async def outcome(self, call: Call) -> tuple[str, Any]:
        self.last_outcome, result = await self._outcome(call)
        return self.last_outcome, result

    async def _outcome(self, call: Call) -> tuple[str, Any]:
        try:
            result = await call.run(self.a, self.raw.name)
        except (ScopeViolation, InputTooDeep):
            return "refused", None
        except (PyMongoError, BSONError):
            return "server or driver error", None
        except Exception as error:
            if is_from_the_driver(error):
                return f"driver refused: {type(error).__name__}", None
            if is_an_argument_check(error):
                return f"engine refused: {type(error).__name__}", None
            raise AssertionError(
                f"{call!r} crashed in the engine with {type(error).__name__}: {error}"
            ) from error
        if call.method == "watch":
            await result.close()
            result = None
        return "ok", result

    async def check(self, call: Call) -> None:
        await super().check(call)
        if self.last_outcome == "ok":
            # What the server accepted was scoped (junk it refused, such as {"$set": None},
            # may not be shaped like anything the wire check knows).
            assert_commands_scoped(self.log.commands, A, self.raw.name)


@pytest.fixture
async def junk_world(
    engine: MongoDBEngine,
    mongo_client: RawClient,
    mongodb_database: str,
    command_log: CommandLog,
    request: pytest.FixtureRequest,
) -> AsyncIterator[JunkWorld]:
    for slug in (A, B):
        await engine.register_app({"schema_version": "2.0", "slug": slug, "name": slug})
    b = engine.get_scoped_db(B)
    for logical, documents in B_SEED.items():
        await b[logical].insert_many([dict(document) for document in documents])
    raw = mongo_client[mongodb_database]
    state = JunkWorld(engine.get_scoped_db(A), mongo_client, raw, command_log)
    state.protected = await state.protected_snapshot(await raw.list_collection_names())
    assert {f"{B}_{logical}" for logical in B_SEED} <= state.protected.keys()
    state.admin_collections = set(await mongo_client["admin"].list_collection_names())
    yield state
    if not state.dirty:
        minimum = EXAMPLES[request.node.name.removeprefix("test_junk_")]
        assert state.examples >= minimum, (state.examples, state.outcomes)
        # Junk is mostly refused; some of it must get through for the property to mean much.
        assert state.outcomes["ok"] >= 1, state.outcomes
        assert state.outcomes["refused"] >= 1, state.outcomes


@settings(max_examples=EXAMPLES["reads"], **SETTINGS)
@given(call=READ_CALLS)
async def test_junk_reads(junk_world: JunkWorld, call: Call) -> None:
    await junk_world.check(call)


@settings(max_examples=EXAMPLES["writes"], **SETTINGS)
@given(call=WRITE_CALLS)
async def test_junk_writes(junk_world: JunkWorld, call: Call) -> None:
    await junk_world.check(call)


@settings(max_examples=EXAMPLES["pipelines"], **SETTINGS)
@given(call=PIPELINE_CALLS)
async def test_junk_pipelines(junk_world: JunkWorld, call: Call) -> None:
    await junk_world.check(call)


@settings(max_examples=EXAMPLES["keyword_arguments"], **SETTINGS)
@given(call=KEYWORD_CALLS)
async def test_junk_keyword_arguments(junk_world: JunkWorld, call: Call) -> None:
    await junk_world.check(call)
