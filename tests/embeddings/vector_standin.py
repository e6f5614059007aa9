"""A stand-in for Atlas Vector Search: the search stand-in, plus ``$vectorSearch`` queries.

``VectorSearchStandIn`` extends ``SearchStandIn`` (tests/indexes/search_standin.py): it still
answers the search-index commands, and it also takes every ``aggregate`` whose pipeline starts
with ``$vectorSearch``. Like Atlas it refuses a query on a field the named index does not
declare as a vector, a filter on a field the index does not declare as a filter (so the
engine's ``app_id`` scope only works because vector indexes declare it), a wrong vector length,
and ``numCandidates`` below ``limit``; an unknown index gives no results. A valid query is
rewritten into an exact pipeline the upstream mongod runs (its own formulation, independent of
the engine's exact search), with Atlas's scores: ``(1 + cosine) / 2``, ``(1 + dot) / 2`` or
``1 / (1 + distance²)``. Later stages reading ``{"$meta": "vectorSearchScore"}`` get it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

from bson import Int64
from search_standin import (
    _HEADER,
    _MORE_TO_COME,
    OP_MSG,
    SearchStandIn,
    _ClientStream,
    _read_message,
    decode_op_msg,
    encode_op_msg,
    search_command,
)

__all__ = ["VectorSearchStandIn", "vector_search_command"]

Document = dict[str, Any]
_STAGE = "$vectorSearch"
_SCORE = "__standin_vector_score"
_LOGICAL_OPERATORS = frozenset({"$and", "$or", "$nor"})


def vector_search_command(message: bytes) -> Document | None:
    """The decoded command if ``message`` is an aggregate starting with ``$vectorSearch``."""
    if len(message) < 21 or _HEADER.unpack_from(message)[3] != OP_MSG:
        return None
    if _STAGE.encode() not in message:
        return None
    command = decode_op_msg(message)
    pipeline = command.get("pipeline")
    if next(iter(command), None) != "aggregate" or not isinstance(pipeline, list) or not pipeline:
        return None
    first = pipeline[0]
    return command if isinstance(first, dict) and next(iter(first), None) == _STAGE else None


class VectorSearchStandIn(SearchStandIn):
    """``SearchStandIn`` that also answers ``$vectorSearch`` (see the module docstring).

    ``vector_searches`` lists each ``$vectorSearch`` stage received, as sent.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        super().__init__(upstream_host, upstream_port)
        self.vector_searches: list[Document] = []

    async def _relay_requests(
        self,
        client_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
        client: _ClientStream,
    ) -> None:
        while (message := await _read_message(client_reader)) is not None:
            request_id = _HEADER.unpack_from(message)[1]
            command = search_command(message)
            if command is not None:
                reply = await self._answer(command)
                await self._reply(client, message, reply)
                continue
            query = vector_search_command(message)
            if query is None:
                upstream_writer.write(message)
                await upstream_writer.drain()
                continue
            self.vector_searches.append(query["pipeline"][0][_STAGE])
            rewritten = self._rewrite(query)
            if "ok" in rewritten:  # an answer of the stand-in's own (error, no index)
                await self._reply(client, message, rewritten)
                continue
            upstream_writer.write(encode_op_msg(rewritten, request_id=request_id, response_to=0))
            await upstream_writer.drain()

    async def _reply(self, client: _ClientStream, message: bytes, reply: Document) -> None:
        if int.from_bytes(message[16:20], "little") & _MORE_TO_COME:
            return
        request_id = _HEADER.unpack_from(message)[1]
        await client.send(
            encode_op_msg(reply, request_id=next(self._request_ids), response_to=request_id)
        )

    def _rewrite(self, command: Document) -> Document:
        """The exact aggregate for the upstream, or the stand-in's own reply."""
        namespace = f"{command.get('$db')}.{command['aggregate']}"
        spec = command["pipeline"][0][_STAGE]
        index = next(
            (
                found
                for found in self.indexes(namespace)
                if found["name"] == spec.get("index") and found["type"] == "vectorSearch"
            ),
            None,
        )
        if index is None:  # Atlas answers a query on a missing index with no documents
            cursor = {"id": Int64(0), "ns": namespace, "firstBatch": []}
            return {"cursor": cursor, "ok": 1.0}
        fields = index["latestDefinition"].get("fields", [])
        vector_field = next(
            (f for f in fields if f.get("type") == "vector" and f.get("path") == spec.get("path")),
            None,
        )
        problem = _problem(spec, vector_field, {f["path"] for f in fields if f["type"] == "filter"})
        if problem is not None or vector_field is None:
            return {"ok": 0.0, "errmsg": problem, "code": 8, "codeName": "UnknownError"}
        path, query = spec["path"], [float(value) for value in spec["queryVector"]]
        match: Document = {path: {"$size": len(query)}}
        if spec.get("filter"):
            match = {"$and": [spec["filter"], match]}
        rest = [_with_score(stage) for stage in command["pipeline"][1:]]
        pipeline = [
            {"$match": match},
            {"$set": {_SCORE: _score(path, query, vector_field.get("similarity", "cosine"))}},
            {"$sort": {_SCORE: -1, "_id": 1}},
            {"$limit": spec["limit"]},
            *rest,
            {"$unset": _SCORE},
        ]
        return {**command, "pipeline": pipeline}


def _problem(spec: Mapping[str, Any], vector_field: Any, filter_paths: set[str]) -> str | None:
    if vector_field is None:
        return f"Path '{spec.get('path')}' needs to be indexed as vector"
    if len(spec.get("queryVector") or []) != vector_field.get("numDimensions"):
        return (
            f"vector field is indexed with {vector_field.get('numDimensions')} dimensions but "
            f"queried with {len(spec.get('queryVector') or [])}"
        )
    limit, candidates = spec.get("limit"), spec.get("numCandidates")
    if not isinstance(limit, int) or not isinstance(candidates, int) or candidates < limit:
        return "numCandidates must be greater than or equal to limit"
    if candidates > 10_000:
        return "numCandidates must be less than or equal to 10000"
    for path in _filter_paths(spec.get("filter") or {}):
        if path not in filter_paths:
            return f"Path '{path}' needs to be indexed as filter"
    return None


def _filter_paths(filter: Mapping[str, Any]) -> Iterator[str]:
    for key, value in filter.items():
        if key in _LOGICAL_OPERATORS:
            for clause in value:
                yield from _filter_paths(clause)
        elif not key.startswith("$"):
            yield key


def _score(path: str, query: list[float], similarity: str) -> Document:
    """Atlas's score, computed with $zip / $reduce over the stored array."""
    pairs = {"$zip": {"inputs": [f"${path}", {"$literal": query}]}}

    def total(term: Any) -> Document:
        return {
            "$reduce": {
                "input": pairs,
                "initialValue": 0.0,
                "in": {"$add": ["$$value", term]},
            }
        }

    stored = {"$arrayElemAt": ["$$this", 0]}
    asked = {"$arrayElemAt": ["$$this", 1]}
    dot = total({"$multiply": [stored, asked]})
    if similarity == "dotProduct":
        return {"$divide": [{"$add": [1, dot]}, 2]}
    if similarity == "euclidean":
        difference = {"$subtract": [stored, asked]}
        squared = total({"$multiply": [difference, difference]})
        return {"$divide": [1, {"$add": [1, squared]}]}
    stored_norm = {"$sqrt": total({"$multiply": [stored, stored]})}
    query_norm = sum(value * value for value in query) ** 0.5
    cosine = {"$divide": [dot, {"$multiply": [stored_norm, query_norm]}]}
    return {"$divide": [{"$add": [1, cosine]}, 2]}


def _with_score(value: Any) -> Any:
    """``value`` with each ``{"$meta": "vectorSearchScore"}`` reading the stand-in's score."""
    if isinstance(value, dict):
        if value == {"$meta": "vectorSearchScore"}:
            return f"${_SCORE}"
        return {key: _with_score(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_score(item) for item in value]
    return value
