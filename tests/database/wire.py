"""Proof from the wire: every command sent for an app stays inside that app's scope.

``assert_commands_scoped(records, app_id, db_name)`` reads the commands a ``CommandLog``
recorded and fails unless each one names only the app's own namespaces (``<app_id>_*`` in
``db_name``, never ``_mdb_engine*``) and constrains ``app_id`` to exactly one value wherever
the command selects or writes documents (``filter``, ``q``, ``query``, ``pipeline``,
``documents``, ``updates``, ``deletes``, ``update``). The one documented exception
(ARCHITECTURE §7) is ``find_one`` by ``_id`` alone, sent as a bare single-batch ``find`` of one
document whose ``app_id`` the engine checks on the way back.

The commands are checked as the server parses them: BSON-encoded with the codec options the
driver used (so values a custom type encoder turns into documents are seen as documents) and
decoded again; a document with a duplicate field name is an escape in itself, because the
engine's checks saw one value and the server reads both.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import Binary, Decimal128, Int64, ObjectId
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions

from mdb_engine.testing import CommandRecord

__all__ = [
    "APP_ID",
    "ENGINE_PREFIX",
    "JAVASCRIPT_OPERATORS",
    "REFUSED_STAGES",
    "assert_commands_scoped",
    "command_problems",
    "on_the_wire",
]

APP_ID = "app_id"
ENGINE_PREFIX = "_mdb_engine"
JAVASCRIPT_OPERATORS = frozenset({"$where", "$function", "$accumulator"})
# Stages that read outside the app or describe the server; never acceptable in a scoped command.
REFUSED_STAGES = frozenset(
    {
        "$collStats",
        "$indexStats",
        "$currentOp",
        "$listSessions",
        "$listLocalSessions",
        "$changeStream",
        "$changeStreamSplitLargeEvent",
        "$planCacheStats",
        "$documents",
        "$searchMeta",
        "$listSearchIndexes",
        "$shardedDataDistribution",
        "$listSampledQueries",
    }
)
# What the driver uses unless told otherwise; UUIDs in the standard representation.
WIRE_CODEC_OPTIONS: CodecOptions[Any] = CodecOptions(
    uuid_representation=UuidRepresentation.STANDARD
)
_TRANSACTION_COMMANDS = frozenset({"commitTransaction", "abortTransaction"})
_NAMESPACE_ONLY_COMMANDS = frozenset({"drop", "createIndexes", "dropIndexes", "listIndexes"})
_EXACT_ID_TYPES = (
    ObjectId,
    str,
    int,
    float,
    Int64,
    Decimal128,
    Binary,
    bytes,
    uuid.UUID,
    datetime.datetime,
)


def assert_commands_scoped(
    records: Iterable[CommandRecord],
    app_id: str,
    db_name: str,
    codec_options: CodecOptions[Any] | None = None,
) -> None:
    """Fail with every problem found unless all ``records`` stay within app ``app_id``."""
    checked = list(records)
    problems = command_problems(checked, app_id, db_name, codec_options)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        commands = "\n".join(f"  {record.name}: {dict(record.command)!r}" for record in checked)
        raise AssertionError(
            f"commands escape the scope of {app_id!r}:\n{listing}\nsent:\n{commands}"
        )


def command_problems(
    records: Iterable[CommandRecord],
    app_id: str,
    db_name: str,
    codec_options: CodecOptions[Any] | None = None,
) -> list[str]:
    """What is wrong with ``records`` for app ``app_id`` on database ``db_name``, in order."""
    checker = _Checker(app_id, db_name)
    for index, record in enumerate(records):
        try:
            parsed = on_the_wire(record, codec_options)
        except (bson.errors.InvalidDocument, TypeError, ValueError) as error:
            checker.fail(f"#{index} {record.name}", f"cannot be encoded as sent: {error}")
            continue
        duplicate = _duplicate_field(parsed.command)
        if duplicate:
            checker.fail(f"#{index} {record.name}", f"repeats the field {duplicate!r}")
        checker.check(index, parsed)
    return checker.problems


class _ParsedDocument(dict[str, Any]):
    """A decoded document that remembers the field names it was given more than once."""

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self:
            self.__dict__.setdefault("duplicates", []).append(key)
        super().__setitem__(key, value)


_PARSED: CodecOptions[Any] = CodecOptions(
    document_class=_ParsedDocument, uuid_representation=UuidRepresentation.STANDARD
)


def on_the_wire(
    record: CommandRecord, codec_options: CodecOptions[Any] | None = None
) -> CommandRecord:
    """``record`` as the server parses it: encoded with ``codec_options``, decoded again."""
    data = bson.encode(record.command, codec_options=codec_options or WIRE_CODEC_OPTIONS)
    return CommandRecord(record.name, record.database, bson.decode(data, _PARSED))


def _duplicate_field(value: Any) -> str | None:
    if isinstance(value, Mapping):
        duplicates = getattr(value, "duplicates", None)
        if duplicates:
            return str(duplicates[0])
        items: Iterable[Any] = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = _duplicate_field(item)
        if found:
            return found
    return None


def is_app_id_path(path: object) -> bool:
    """Whether a field path is ``app_id`` or inside it."""
    return isinstance(path, str) and (path == APP_ID or path.startswith(APP_ID + "."))


def _javascript_in(value: Any) -> str | None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in JAVASCRIPT_OPERATORS:
                return str(key)
            found = _javascript_in(item)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for item in value:
            found = _javascript_in(item)
            if found:
                return found
    return None


def _single_stage(stage: Any) -> tuple[str, Any] | None:
    if isinstance(stage, Mapping) and len(stage) == 1:
        ((name, spec),) = stage.items()
        if isinstance(name, str):
            return name, spec
    return None


@dataclass
class _Checker:
    app_id: str
    db_name: str
    problems: list[str] = field(default_factory=list)
    has_database_stream: bool = False

    # -- building blocks ----------------------------------------------------------------------

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def is_pin(self, condition: Any) -> bool:
        """``{"app_id": <this app>}`` exactly: one field, one string value."""
        return (
            isinstance(condition, Mapping)
            and len(condition) == 1
            and type(condition.get(APP_ID)) is str
            and condition[APP_ID] == self.app_id
        )

    def is_pinned(self, query: Any) -> bool:
        """The query is the pin, or a top-level ``$and`` with the pin among its conjuncts."""
        if self.is_pin(query):
            return True
        if not (isinstance(query, Mapping) and list(query) == ["$and"]):
            return False
        conjuncts = query["$and"]
        return isinstance(conjuncts, list) and any(self.is_pin(item) for item in conjuncts)

    def require_pinned(self, where: str, query: Any) -> None:
        if not self.is_pinned(query):
            self.fail(where, f"does not pin {APP_ID} to {self.app_id!r}: {query!r}")

    def namespace(self, where: str, name: Any) -> None:
        if not isinstance(name, str):
            self.fail(where, f"names no collection of the app: {name!r}")
        elif name.startswith(ENGINE_PREFIX) or not name.startswith(self.app_id + "_"):
            self.fail(where, f"reaches a namespace outside the app: {name!r}")

    def full_namespace(self, where: str, name: Any) -> None:
        prefix = self.db_name + "."
        if not (isinstance(name, str) and name.startswith(prefix)):
            self.fail(where, f"reaches another database: {name!r}")
            return
        self.namespace(where, name[len(prefix) :])

    def stamp(self) -> dict[str, Any]:
        return {"$set": {APP_ID: self.app_id}}

    # -- commands -----------------------------------------------------------------------------

    def check(self, index: int, record: CommandRecord) -> None:
        name = record.name
        command = record.command
        where = f"#{index} {name}"
        if name in _TRANSACTION_COMMANDS:
            if record.database != "admin":
                self.fail(where, f"sent to {record.database!r} instead of 'admin'")
            return
        if name == "renameCollection":
            if record.database != "admin":
                self.fail(where, f"sent to {record.database!r} instead of 'admin'")
            self.full_namespace(f"{where} renameCollection", command.get("renameCollection"))
            self.full_namespace(f"{where} to", command.get("to"))
            return
        if record.database != self.db_name:
            self.fail(where, f"sent to database {record.database!r}, not {self.db_name!r}")
        checked = {key: value for key, value in command.items() if key != "documents"}
        javascript = _javascript_in(checked)
        if javascript:
            self.fail(where, f"carries server-side JavaScript ({javascript})")
        handler = _HANDLERS.get(name)
        if name in _NAMESPACE_ONLY_COMMANDS:
            self.namespace(where, record.collection)
        elif handler is None:
            self.fail(where, "is not a command a scoped database sends")
        else:
            handler(self, where, record)

    def check_find(self, where: str, record: CommandRecord) -> None:
        command = record.command
        self.namespace(where, record.collection)
        query = command.get("filter", {})
        if not self.is_pinned(query) and not self.is_id_lookup(command):
            self.fail(where, f"filter does not pin {APP_ID} to {self.app_id!r}: {query!r}")

    def is_id_lookup(self, command: Mapping[str, Any]) -> bool:
        """``find_one`` by ``_id`` alone: one exact ``_id``, one document, app_id kept."""
        query = command.get("filter")
        if not (isinstance(query, Mapping) and list(query) == ["_id"]):
            return False
        value = query["_id"]
        if not isinstance(value, _EXACT_ID_TYPES) or isinstance(value, bool):
            return False
        return (
            command.get("limit") == 1
            and command.get("singleBatch") is True
            and _projection_keeps_app_id(command.get("projection"))
        )

    def check_get_more(self, where: str, record: CommandRecord) -> None:
        collection = record.command.get("collection")
        if collection == "$cmd.aggregate" and self.has_database_stream:
            return  # the cursor of a database change stream checked earlier in this log
        self.namespace(where, collection)

    def check_count(self, where: str, record: CommandRecord) -> None:
        self.namespace(where, record.collection)
        self.require_pinned(f"{where} query", record.command.get("query"))

    def check_distinct(self, where: str, record: CommandRecord) -> None:
        self.namespace(where, record.collection)
        self.require_pinned(f"{where} query", record.command.get("query"))

    def check_insert(self, where: str, record: CommandRecord) -> None:
        self.namespace(where, record.collection)
        documents = record.command.get("documents")
        if not isinstance(documents, list) or not documents:
            self.fail(where, "has no documents")
            return
        for position, document in enumerate(documents):
            value = document.get(APP_ID) if isinstance(document, Mapping) else None
            if type(value) is not str or value != self.app_id:
                self.fail(f"{where} documents[{position}]", f"carries {APP_ID}={value!r}")

    def check_update(self, where: str, record: CommandRecord) -> None:
        self.namespace(where, record.collection)
        for position, statement in enumerate(record.command.get("updates") or [None]):
            here = f"{where} updates[{position}]"
            if not isinstance(statement, Mapping):
                self.fail(here, "is not an update statement")
                continue
            self.require_pinned(f"{here}.q", statement.get("q"))
            self.update(f"{here}.u", statement.get("u"))

    def check_delete(self, where: str, record: CommandRecord) -> None:
        self.namespace(where, record.collection)
        for position, statement in enumerate(record.command.get("deletes") or [None]):
            here = f"{where} deletes[{position}]"
            query = statement.get("q") if isinstance(statement, Mapping) else None
            self.require_pinned(f"{here}.q", query)

    def check_find_and_modify(self, where: str, record: CommandRecord) -> None:
        command = record.command
        self.namespace(where, record.collection)
        self.require_pinned(f"{where} query", command.get("query"))
        if "update" in command:
            self.update(f"{where} update", command["update"])
        elif command.get("remove") is not True:
            self.fail(where, "neither updates nor removes")

    def check_aggregate(self, where: str, record: CommandRecord) -> None:
        command = record.command
        pipeline = command.get("pipeline")
        stages: list[Any] = pipeline if isinstance(pipeline, list) else []
        is_stream = bool(stages) and isinstance(stages[0], Mapping) and "$changeStream" in stages[0]
        if command.get("aggregate") == 1:
            if not is_stream:
                self.fail(where, "is a database-level aggregation that is not a change stream")
                return
            self.change_stream(where, stages, is_database_level=True)
            self.has_database_stream = True
            return
        self.namespace(where, record.collection)
        if is_stream:
            self.change_stream(where, stages, is_database_level=False)
        else:
            self.pipeline(f"{where} pipeline", pipeline)

    def check_list_collections(self, where: str, record: CommandRecord) -> None:
        query = record.command.get("filter")
        own = {"name": {"$regex": "^" + re.escape(self.app_id + "_")}}
        conjuncts = query.get("$and") if isinstance(query, Mapping) else None
        if query == own or (
            list(query or {}) == ["$and"] and isinstance(conjuncts, list) and own in conjuncts
        ):
            return
        if isinstance(query, Mapping) and list(query) == ["name"]:
            self.namespace(f"{where} filter", query["name"])
            return
        self.fail(where, f"filter does not keep to the app's collections: {query!r}")

    def check_create(self, where: str, record: CommandRecord) -> None:
        command = record.command
        self.namespace(where, record.collection)
        if "viewOn" in command or "pipeline" in command:
            self.namespace(f"{where} viewOn", command.get("viewOn"))
            self.pipeline(f"{where} pipeline", command.get("pipeline"))

    def check_coll_mod(self, where: str, record: CommandRecord) -> None:
        """``collMod`` of one of the app's collections, changing only its document validation."""
        self.namespace(where, record.collection)
        changed = sorted(set(record.command) - _COLL_MOD_FIELDS)
        if changed:
            self.fail(where, f"changes more than document validation: {changed}")

    # -- pipelines ----------------------------------------------------------------------------

    def pipeline(self, where: str, stages: Any) -> None:
        """A pipeline that reads documents: it must start with the scope, then stay inside."""
        if not isinstance(stages, list) or not stages:
            self.fail(where, f"is not a scoped pipeline: {stages!r}")
            return
        first = _single_stage(stages[0])
        name, spec = first if first else ("?", None)
        if name == "$match":
            self.require_pinned(f"{where}[0] $match", spec)
        elif name == "$geoNear" and isinstance(spec, Mapping):
            self.require_pinned(f"{where}[0] $geoNear.query", spec.get("query"))
        elif name == "$vectorSearch" and isinstance(spec, Mapping):
            self.require_pinned(f"{where}[0] $vectorSearch.filter", spec.get("filter"))
        elif name == "$search":
            second = _single_stage(stages[1]) if len(stages) > 1 else None
            if not (second and second[0] == "$match" and self.is_pinned(second[1])):
                self.fail(f"{where}[1]", "$search is not followed by the scope $match")
        else:
            self.fail(f"{where}[0]", f"does not start with the scope: {stages[0]!r}")
        self.stages(where, stages)

    def stages(self, where: str, stages: Any) -> None:
        """Every stage at any depth names only the app's collections and keeps the scope."""
        if not isinstance(stages, list):
            self.fail(where, f"is not a list of stages: {stages!r}")
            return
        for position, stage in enumerate(stages):
            here = f"{where}[{position}]"
            single = _single_stage(stage)
            if single is None:
                self.fail(here, f"is not a single-stage document: {stage!r}")
                continue
            name, spec = single
            if name in REFUSED_STAGES:
                self.fail(here, f"uses the refused stage {name}")
            elif name in ("$out", "$merge"):
                self.output(here, name, spec, stages[position - 1] if position else None)
            elif name in ("$lookup", "$graphLookup", "$unionWith", "$facet"):
                self.join(here, name, spec)

    def join(self, where: str, name: str, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            self.fail(where, f"{name} in its short form is not scoped: {spec!r}")
            return
        if name == "$facet":
            for branch_name, branch in spec.items():
                self.stages(f"{where} $facet.{branch_name}", branch)
        elif name == "$graphLookup":
            self.namespace(f"{where} $graphLookup.from", spec.get("from"))
            self.require_pinned(
                f"{where} $graphLookup.restrictSearchWithMatch", spec.get("restrictSearchWithMatch")
            )
        else:
            key = "from" if name == "$lookup" else "coll"
            self.namespace(f"{where} {name}.{key}", spec.get(key))
            if spec.get("db", self.db_name) != self.db_name:
                self.fail(where, f"{name} reads another database: {spec['db']!r}")
            self.pipeline(f"{where} {name}.pipeline", spec.get("pipeline"))

    def output(self, where: str, name: str, spec: Any, previous: Any) -> None:
        if previous != self.stamp():
            self.fail(where, f"{name} is not preceded by {self.stamp()!r}")
        if name == "$out":
            target = spec
        elif isinstance(spec, Mapping):
            target = spec.get("into")
            when_matched = spec.get("whenMatched")
            if isinstance(when_matched, list):
                self.update_pipeline(f"{where} $merge.whenMatched", when_matched)
        else:
            target = spec
        if isinstance(target, Mapping):
            if target.get("db", self.db_name) != self.db_name:
                self.fail(where, f"{name} writes to another database: {target!r}")
            self.namespace(f"{where} {name}", target.get("coll"))
        else:
            self.namespace(f"{where} {name}", target)

    def change_stream(self, where: str, pipeline: list[Any], *, is_database_level: bool) -> None:
        options = pipeline[0]["$changeStream"]
        if isinstance(options, Mapping) and options.get("allChangesForCluster"):
            self.fail(where, "watches the whole cluster")
        scope = _single_stage(pipeline[1]) if len(pipeline) > 1 else None
        if scope is None or scope[0] != "$match" or not isinstance(scope[1], Mapping):
            self.fail(where, "the change stream is not followed by the scope $match")
            return
        query = scope[1]
        conjuncts = query["$and"] if list(query) == ["$and"] else [query]
        if not any(self.pins_full_document(conjunct) for conjunct in conjuncts):
            self.fail(where, f"events are not constrained to fullDocument.{APP_ID}: {query!r}")
        own = {"ns.coll": {"$regex": "^" + re.escape(self.app_id + "_")}}
        if is_database_level and own not in conjuncts:
            self.fail(where, f"events are not constrained to the app's collections: {query!r}")
        self.stages(f"{where} pipeline", pipeline[2:])

    def pins_full_document(self, condition: Any) -> bool:
        if not (isinstance(condition, Mapping) and len(condition) == 1):
            return False
        value = condition.get(f"fullDocument.{APP_ID}")
        if value == self.app_id:
            return True
        # Events without a full document (deletes, drops) match the null alternative.
        allowed = [self.app_id, None]
        return (
            isinstance(value, Mapping)
            and list(value) == ["$in"]
            and isinstance(value["$in"], list)
            and self.app_id in value["$in"]
            and all(item in allowed for item in value["$in"])
        )

    # -- updates ------------------------------------------------------------------------------

    def update(self, where: str, update: Any) -> None:
        """Operator form never names app_id; pipeline form is stamped; replacements carry it."""
        if isinstance(update, list):
            self.update_pipeline(where, update)
        elif not isinstance(update, Mapping) or not update:
            self.fail(where, f"is not an update: {update!r}")
        elif all(isinstance(key, str) and key.startswith("$") for key in update):
            self.operator_update(where, update)
        else:
            value = update.get(APP_ID)
            if type(value) is not str or value != self.app_id:
                self.fail(where, f"replacement carries {APP_ID}={value!r}")

    def operator_update(self, where: str, update: Mapping[str, Any]) -> None:
        for operator, fields in update.items():
            if not isinstance(fields, Mapping):
                self.fail(where, f"{operator} does not take a document: {fields!r}")
                continue
            for path, value in fields.items():
                if is_app_id_path(path):
                    self.fail(where, f"{operator} changes {path!r}")
                if operator == "$rename" and is_app_id_path(value):
                    self.fail(where, f"$rename moves {path!r} onto {value!r}")

    def update_pipeline(self, where: str, stages: Sequence[Any]) -> None:
        if not stages or stages[-1] != self.stamp():
            self.fail(where, f"does not end with {self.stamp()!r}: {list(stages)!r}")
        for position, stage in enumerate(stages[:-1]):
            single = _single_stage(stage)
            if single is None:
                self.fail(f"{where}[{position}]", f"is not a single-stage document: {stage!r}")
                continue
            name, spec = single
            if name in ("$set", "$addFields") and isinstance(spec, Mapping):
                named = [path for path in spec if is_app_id_path(path)]
            elif name == "$unset":
                paths = spec if isinstance(spec, list) else [spec]
                named = [path for path in paths if is_app_id_path(path)]
            else:
                named = []
            if named:
                self.fail(f"{where}[{position}]", f"{name} names {named[0]!r}")


_HANDLERS: Mapping[str, Callable[[_Checker, str, CommandRecord], None]] = {
    "find": _Checker.check_find,
    "getMore": _Checker.check_get_more,
    "count": _Checker.check_count,
    "distinct": _Checker.check_distinct,
    "insert": _Checker.check_insert,
    "update": _Checker.check_update,
    "delete": _Checker.check_delete,
    "findAndModify": _Checker.check_find_and_modify,
    "aggregate": _Checker.check_aggregate,
    "listCollections": _Checker.check_list_collections,
    "create": _Checker.check_create,
    "collMod": _Checker.check_coll_mod,
}
# What a scoped collMod may carry: validation settings, plus what the driver adds to every command.
_COLL_MOD_FIELDS = frozenset(
    {"collMod", "validator", "validationLevel", "validationAction", "comment"}
    | {"lsid", "$db", "$clusterTime", "$readPreference", "txnNumber", "autocommit", "apiVersion"}
)


def _projection_keeps_app_id(projection: Any) -> bool:
    """Whether the documents returned under ``projection`` still carry ``app_id``."""
    if projection is None:
        return True
    if not isinstance(projection, Mapping):
        return False
    if APP_ID in projection:
        return projection[APP_ID] in (1, True)
    others = [value for path, value in projection.items() if path != "_id"]
    is_inclusion = any(others) if others else bool(projection.get("_id", 0))
    return not is_inclusion
