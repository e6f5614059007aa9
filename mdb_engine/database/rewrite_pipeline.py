"""Pure rewrite rules for aggregation pipelines within one app's scope.

Stages come from an allowlist; an unknown stage is refused. The scope goes first as a
``$match`` (or into ``$geoNear.query`` / ``$vectorSearch.filter`` when those must be first);
``$lookup``, ``$graphLookup`` and ``$unionWith`` take logical names and get scoped
sub-pipelines; ``$out`` and ``$merge`` may only write to the app's own collections and get
``app_id`` stamped first. Nothing here mutates its arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mdb_engine.database.names import physical_name
from mdb_engine.database.rewrite_update import rewrite_update_pipeline
from mdb_engine.database.scope import APP_ID_FIELD, check_no_server_javascript, scope_filter
from mdb_engine.errors import ScopeViolation

__all__ = [
    "CHANGE_STREAM_STAGES",
    "PASS_THROUGH_STAGES",
    "REFUSED_STAGES",
    "pipeline_writes",
    "referenced_collections",
    "rewrite_change_stream_pipeline",
    "rewrite_pipeline",
]

Stage = Mapping[str, Any]

# Stages that only reshape documents already in scope; checked for server-side JavaScript.
PASS_THROUGH_STAGES = frozenset(
    {
        "$match",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$group",
        "$sort",
        "$limit",
        "$skip",
        "$count",
        "$unwind",
        "$replaceRoot",
        "$replaceWith",
        "$sample",
        "$bucket",
        "$bucketAuto",
        "$sortByCount",
        "$redact",
        "$densify",
        "$fill",
        "$setWindowFields",
    }
)

# Stages refused with a reason: they read outside the app or describe the server itself.
REFUSED_STAGES: Mapping[str, str] = {
    "$currentOp": "it lists the operations of every app",
    "$listSessions": "it lists the sessions of every app",
    "$listLocalSessions": "it lists the sessions of every app",
    "$changeStream": "use watch(), which is scoped to the app",
    "$changeStreamSplitLargeEvent": "it belongs to change streams; use watch()",
    "$planCacheStats": "it exposes the queries of every app",
    "$documents": "it reads documents that are not in the app's collections",
    "$collStats": "it describes the physical collection, not the app's documents",
    "$indexStats": "it exposes index usage across apps",
    "$listSearchIndexes": "search indexes are managed from the manifest",
    "$searchMeta": "its counts cannot be constrained to the app",
    "$shardedDataDistribution": "it describes the whole cluster",
    "$listSampledQueries": "it exposes the queries of every app",
}

# Stages MongoDB accepts in a change stream pipeline.
CHANGE_STREAM_STAGES = frozenset(
    {
        "$match",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$replaceRoot",
        "$replaceWith",
        "$redact",
    }
)

_TARGET_KEYS = {"$lookup": "from", "$graphLookup": "from", "$unionWith": "coll", "$out": "coll"}
_STAGE_KEYS: Mapping[str, frozenset[str]] = {
    "$lookup": frozenset({"from", "localField", "foreignField", "as", "let", "pipeline"}),
    "$graphLookup": frozenset(
        {
            "from",
            "startWith",
            "connectFromField",
            "connectToField",
            "as",
            "maxDepth",
            "depthField",
            "restrictSearchWithMatch",
        }
    ),
    "$unionWith": frozenset({"coll", "pipeline"}),
}
_FIRST_STAGE_ONLY = frozenset({"$geoNear", "$vectorSearch", "$search"})
_OUTPUT_STAGES = frozenset({"$out", "$merge"})


@dataclass(frozen=True)
class _Scope:
    app_id: str
    database_name: str

    def physical(self, name: Any, *, stage: str) -> str:
        if not isinstance(name, str):
            raise ScopeViolation(f"{stage} must name a collection of the app as a string")
        return physical_name(self.app_id, name)


def rewrite_pipeline(pipeline: Any, app_id: str, *, database_name: str) -> list[Stage]:
    """The pipeline to send for app ``app_id`` on database ``database_name``."""
    return _rewrite(pipeline, _Scope(app_id, database_name), allow_output=True)


def pipeline_writes(pipeline: Any) -> bool:
    """Whether a (well-formed) pipeline ends in ``$out`` or ``$merge``."""
    stages = _stages(pipeline)
    return bool(stages) and _stage_name(stages[-1], len(stages) - 1) in _OUTPUT_STAGES


def referenced_collections(pipeline: Any) -> set[str]:
    """The logical collections a pipeline reads or writes besides its own, at any depth."""
    names: set[str] = set()
    for position, stage in enumerate(_stages(pipeline)):
        name = _stage_name(stage, position)
        spec = stage[name]
        if name == "$facet" and isinstance(spec, Mapping):
            for branch in spec.values():
                names |= referenced_collections(branch)
            continue
        target = _target_of(name, spec)
        if isinstance(target, str):
            names.add(target)
        if isinstance(spec, Mapping) and isinstance(spec.get("pipeline"), (list, tuple)):
            names |= referenced_collections(spec["pipeline"])
    return names


def _target_of(name: str, spec: Any) -> Any:
    if isinstance(spec, str):
        return spec if name in ("$unionWith", "$out", "$merge") else None
    if not isinstance(spec, Mapping):
        return None
    key = {"$lookup": "from", "$graphLookup": "from", "$unionWith": "coll", "$out": "coll"}.get(
        name
    )
    if name == "$merge":
        into = spec.get("into")
        return into.get("coll") if isinstance(into, Mapping) else into
    return spec.get(key) if key else None


def rewrite_change_stream_pipeline(
    pipeline: Any, app_id: str, *, namespace_filter: Mapping[str, Any] | None = None
) -> list[Stage]:
    """A change stream pipeline preceded by a ``$match`` that keeps only the app's events.

    ``namespace_filter`` narrows a database-wide stream to the app's collections. Events that
    carry a full document must carry the app's ``app_id``.
    """
    scope: dict[str, Any] = {f"fullDocument.{APP_ID_FIELD}": {"$in": [app_id, None]}}
    if namespace_filter:
        scope = {"$and": [dict(namespace_filter), scope]}
    stages: list[Stage] = [{"$match": scope}]
    for position, stage in enumerate(_stages(pipeline)):
        name = _stage_name(stage, position)
        if name not in CHANGE_STREAM_STAGES:
            allowed = ", ".join(sorted(CHANGE_STREAM_STAGES))
            raise ScopeViolation(f"{name!r} is not allowed in a change stream (allowed: {allowed})")
        check_no_server_javascript(stage, where="change stream")
        stages.append(stage)
    return stages


def _rewrite(
    pipeline: Any, scope: _Scope, *, allow_output: bool, is_input_scoped: bool = False
) -> list[Stage]:
    stages = _stages(pipeline)
    rewritten: list[Stage] = []
    if not is_input_scoped and not stages:
        return [_scope_match(scope)]
    for position, stage in enumerate(stages):
        name = _stage_name(stage, position)
        spec = stage[name]
        check_no_server_javascript(spec, where="pipeline")
        if name in _FIRST_STAGE_ONLY:
            if position != 0 or is_input_scoped:
                raise ScopeViolation(f"{name} is only allowed as the first stage of a pipeline")
            rewritten.extend(_first_stage(name, spec, scope))
            continue
        if position == 0 and not is_input_scoped:
            rewritten.append(_scope_match(scope))
        if name in _OUTPUT_STAGES:
            if not allow_output:
                raise ScopeViolation(f"{name} is not allowed inside a sub-pipeline or $facet")
            if position != len(stages) - 1:
                raise ScopeViolation(f"{name} must be the last stage of a pipeline")
        rewritten.extend(_rewrite_stage(name, spec, scope))
    return rewritten


def _first_stage(name: str, spec: Any, scope: _Scope) -> list[Stage]:
    """A stage that must come first, with the scope placed where the server allows it."""
    if name == "$geoNear":
        spec = _mapping(spec, name)
        return [{name: {**spec, "query": scope_filter(spec.get("query"), scope.app_id)}}]
    if name == "$vectorSearch":
        spec = _mapping(spec, name)
        return [{name: {**spec, "filter": scope_filter(spec.get("filter"), scope.app_id)}}]
    # $search must come first and cannot take a plain filter; the scope follows at once.
    return [{name: spec}, _scope_match(scope)]


def _rewrite_stage(name: str, spec: Any, scope: _Scope) -> list[Stage]:
    handler = _HANDLERS.get(name)
    if handler is not None:
        return handler(spec, scope)
    if name in PASS_THROUGH_STAGES:
        return [{name: spec}]
    reason = REFUSED_STAGES.get(name)
    if reason is not None:
        raise ScopeViolation(f"{name} is refused in a scoped pipeline: {reason}")
    raise ScopeViolation(f"unknown or unsupported pipeline stage {name!r} is refused")


def _lookup(spec: Any, scope: _Scope) -> list[Stage]:
    spec = _known_keys(_mapping(spec, "$lookup"), "$lookup")
    if "from" not in spec:
        raise ScopeViolation("$lookup must name a collection of the app in 'from'")
    return [
        {
            "$lookup": {
                **spec,
                "from": scope.physical(spec["from"], stage="$lookup 'from'"),
                "pipeline": _sub_pipeline(spec.get("pipeline", []), scope),
            }
        }
    ]


def _graph_lookup(spec: Any, scope: _Scope) -> list[Stage]:
    spec = _known_keys(_mapping(spec, "$graphLookup"), "$graphLookup")
    restrict = spec.get("restrictSearchWithMatch")
    return [
        {
            "$graphLookup": {
                **spec,
                "from": scope.physical(spec.get("from"), stage="$graphLookup 'from'"),
                "restrictSearchWithMatch": scope_filter(restrict, scope.app_id),
            }
        }
    ]


def _union_with(spec: Any, scope: _Scope) -> list[Stage]:
    if isinstance(spec, str):
        spec = {"coll": spec}
    spec = _known_keys(_mapping(spec, "$unionWith"), "$unionWith")
    return [
        {
            "$unionWith": {
                **spec,
                "coll": scope.physical(spec.get("coll"), stage="$unionWith 'coll'"),
                "pipeline": _sub_pipeline(spec.get("pipeline", []), scope),
            }
        }
    ]


def _facet(spec: Any, scope: _Scope) -> list[Stage]:
    spec = _mapping(spec, "$facet")
    branches: dict[str, list[Stage]] = {}
    for branch_name, branch in spec.items():
        # The input of $facet is already scoped; branches only need their stages checked.
        branches[branch_name] = _rewrite(branch, scope, allow_output=False, is_input_scoped=True)
    return [{"$facet": branches}]


def _out(spec: Any, scope: _Scope) -> list[Stage]:
    if isinstance(spec, str):
        target: Any = scope.physical(spec, stage="$out")
    else:
        spec = _mapping(spec, "$out")
        _check_same_database(spec.get("db"), scope, "$out")
        target = {**spec, "db": scope.database_name}
        target["coll"] = scope.physical(spec.get("coll"), stage="$out 'coll'")
    return [_stamp(scope), {"$out": target}]


def _merge(spec: Any, scope: _Scope) -> list[Stage]:
    if isinstance(spec, str):
        spec = {"into": spec}
    spec = _mapping(spec, "$merge")
    into = spec.get("into")
    if isinstance(into, Mapping):
        _check_same_database(into.get("db"), scope, "$merge")
        into = {"db": scope.database_name, "coll": scope.physical(into.get("coll"), stage="$merge")}
    else:
        into = scope.physical(into, stage="$merge 'into'")
    merged: dict[str, Any] = {**spec, "into": into}
    when_matched = spec.get("whenMatched")
    if isinstance(when_matched, (list, tuple)):
        merged["whenMatched"] = rewrite_update_pipeline(when_matched, scope.app_id)
    return [_stamp(scope), {"$merge": merged}]


def _sub_pipeline(pipeline: Any, scope: _Scope) -> list[Stage]:
    return _rewrite(pipeline, scope, allow_output=False)


def _check_same_database(database_name: Any, scope: _Scope, stage: str) -> None:
    if database_name is not None and database_name != scope.database_name:
        raise ScopeViolation(
            f"{stage} may only write to the app's own database {scope.database_name!r}, "
            f"not {database_name!r}"
        )


def _scope_match(scope: _Scope) -> Stage:
    return {"$match": {APP_ID_FIELD: scope.app_id}}


def _stamp(scope: _Scope) -> Stage:
    return {"$set": {APP_ID_FIELD: scope.app_id}}


def _stages(pipeline: Any) -> Sequence[Any]:
    if not isinstance(pipeline, (list, tuple)):
        raise TypeError(f"pipeline must be a list, not {type(pipeline).__name__}")
    return pipeline


def _stage_name(stage: Any, position: int) -> str:
    if not isinstance(stage, Mapping) or len(stage) != 1:
        raise ScopeViolation(
            f"pipeline stage {position} must be a document with exactly one stage name"
        )
    name = next(iter(stage))
    if not isinstance(name, str):
        raise ScopeViolation(f"pipeline stage {position} has a non-string name")
    return name


def _known_keys(spec: Mapping[str, Any], stage: str) -> Mapping[str, Any]:
    # Fail closed: a field this code does not know (such as $unionWith's "db") could name a
    # namespace outside the app.
    unknown = sorted(set(spec) - _STAGE_KEYS[stage])
    if unknown:
        raise ScopeViolation(f"{stage} field(s) {', '.join(map(repr, unknown))} are not allowed")
    return spec


def _mapping(spec: Any, stage: str) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise ScopeViolation(f"{stage} takes a document, not {type(spec).__name__}")
    return spec


_HANDLERS: Mapping[str, Callable[[Any, _Scope], list[Stage]]] = {
    "$lookup": _lookup,
    "$graphLookup": _graph_lookup,
    "$unionWith": _union_with,
    "$facet": _facet,
    "$out": _out,
    "$merge": _merge,
}
