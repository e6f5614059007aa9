"""A local stand-in for Atlas Search: a wire-protocol proxy that answers search-index commands.

Community mongod has no Atlas Search (``$listSearchIndexes`` fails with code 40324,
``createSearchIndexes`` with 59). ``SearchStandIn`` listens on 127.0.0.1 in front of a real
mongod and forwards every message byte for byte, except the search-index commands, which it
answers itself from an in-memory store, shaped the way Atlas answers them:

- ``aggregate`` whose pipeline is exactly ``[{"$listSearchIndexes": {} | {"name"} | {"id"}}]``;
- ``createSearchIndexes``, ``updateSearchIndex`` and ``dropSearchIndex``.

Where Atlas leaves room, the stand-in is strict: an unknown index in ``updateSearchIndex`` *and*
``dropSearchIndex`` is error 27 (IndexNotFound); a create, update or drop on a collection that
does not exist upstream is error 26 (NamespaceNotFound), which PyMongo suppresses for update and
drop. Indexes are never checked against documents and are always ``READY``; dropping a
collection does not drop its search indexes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import logging
import struct
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import bson
from bson import Int64, ObjectId
from pymongo import AsyncMongoClient

__all__ = [
    "OP_MSG",
    "SearchIndexCatalog",
    "SearchStandIn",
    "decode_op_msg",
    "encode_op_msg",
    "search_command",
]

logger = logging.getLogger(__name__)

OP_MSG = 2013
_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
_CHECKSUM_PRESENT = 1 << 0
_MORE_TO_COME = 1 << 1
_MAX_MESSAGE_SIZE = 64 * 1024 * 1024  # above the server's 48 MB limit
_WRITE_COMMANDS = frozenset({"createSearchIndexes", "updateSearchIndex", "dropSearchIndex"})
_LIST_STAGE = "$listSearchIndexes"

Document = dict[str, Any]


def _sections(message: bytes) -> Iterator[tuple[int, bytes]]:
    """The ``(kind, payload)`` sections of an OP_MSG message, checksum left out."""
    flags = int.from_bytes(message[16:20], "little")
    end = len(message) - 4 if flags & _CHECKSUM_PRESENT else len(message)
    position = 20
    while position < end:
        kind = message[position]
        size = int.from_bytes(message[position + 1 : position + 5], "little")
        if kind not in (0, 1) or size < 5 or position + 1 + size > end:
            raise ValueError(f"malformed OP_MSG section at byte {position}")
        yield kind, message[position + 1 : position + 1 + size]
        position += 1 + size


def _command_name(message: bytes) -> str | None:
    """The first key of an OP_MSG body, read without decoding it; None if there is none."""
    with contextlib.suppress(ValueError, IndexError, UnicodeDecodeError):
        for kind, payload in _sections(message):
            if kind == 0 and payload[4] != 0:  # element type 0 ends an empty document
                return payload[5 : payload.index(b"\x00", 5)].decode()
    return None


def decode_op_msg(message: bytes) -> Document:
    """The command of an OP_MSG message: its body, each document sequence merged in as a list."""
    body: Document | None = None
    sequences: dict[str, list[Document]] = {}
    for kind, payload in _sections(message):
        if kind == 0:
            body = bson.decode(payload)
        else:
            identifier_end = payload.index(b"\x00", 4)
            identifier = payload[4:identifier_end].decode()
            sequences[identifier] = bson.decode_all(payload[identifier_end + 1 :])
    if body is None:
        raise ValueError("OP_MSG without a body section")
    body.update(sequences)
    return body


def search_command(message: bytes) -> Document | None:
    """The decoded command if ``message`` is a search-index command the stand-in answers."""
    if len(message) < 21 or _HEADER.unpack_from(message)[3] != OP_MSG:
        return None
    name = _command_name(message)
    if name in _WRITE_COMMANDS:
        return decode_op_msg(message)
    if name == "aggregate" and _LIST_STAGE.encode() in message:
        command = decode_op_msg(message)
        pipeline = command.get("pipeline")
        first_stage = pipeline[0] if isinstance(pipeline, list) and pipeline else None
        if isinstance(first_stage, dict) and next(iter(first_stage), None) == _LIST_STAGE:
            return command
    return None


def encode_op_msg(document: Mapping[str, Any], *, request_id: int, response_to: int) -> bytes:
    """An OP_MSG message with flags 0 and ``document`` as its one body section."""
    payload = b"\x00\x00\x00\x00\x00" + bson.encode(document)
    return _HEADER.pack(16 + len(payload), request_id, response_to, OP_MSG) + payload


def _error(code: int, code_name: str, errmsg: str) -> Document:
    return {"ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name}


def _bad(errmsg: str) -> Document:
    return _error(9, "FailedToParse", errmsg)


class SearchIndexCatalog:
    """The search indexes per namespace (``db.coll``), and the replies Atlas gives about them."""

    def __init__(self) -> None:
        self._by_namespace: dict[str, list[Document]] = {}

    def indexes(self, namespace: str) -> list[Document]:
        """The indexes of ``namespace`` as ``$listSearchIndexes`` returns them."""
        return [
            {
                "id": index["id"],
                "name": index["name"],
                "type": index["type"],
                "status": "READY",
                "queryable": True,
                "latestDefinition": copy.deepcopy(index["definition"]),
            }
            for index in self._by_namespace.get(namespace, [])
        ]

    def answer(self, command: Document, *, collection_exists: bool) -> Document:
        """The reply to a search-index command; ``collection_exists`` is the upstream's word."""
        name = next(iter(command))
        database, collection = command.get("$db"), command[name]
        if not isinstance(database, str) or not isinstance(collection, str):
            return _bad(f"{name} needs a collection name and $db")
        namespace = f"{database}.{collection}"
        if name == "aggregate":
            return self._list(namespace, command["pipeline"])
        if not collection_exists:
            return _error(26, "NamespaceNotFound", f"Collection '{namespace}' does not exist.")
        if name == "createSearchIndexes":
            return self._create(namespace, command.get("indexes"))
        if "name" not in command and "id" not in command:
            return _bad(f"{name} needs the name or id of an index")
        found = self._find(namespace, command)
        if found is None:
            wanted = command.get("name", command.get("id"))
            return _error(27, "IndexNotFound", f"Index {wanted} not found")
        if name == "updateSearchIndex":
            definition = command.get("definition")
            if not isinstance(definition, dict):
                return _bad("updateSearchIndex needs a definition document")
            found["definition"] = copy.deepcopy(definition)
        else:
            self._by_namespace[namespace].remove(found)
        return {"ok": 1.0}

    def _list(self, namespace: str, pipeline: list[Any]) -> Document:
        selector = pipeline[0][_LIST_STAGE]
        if len(pipeline) > 1:
            return _error(2, "BadValue", "the stand-in answers $listSearchIndexes only alone")
        if not isinstance(selector, dict) or not set(selector) <= {"name", "id"}:
            return _bad(f"{_LIST_STAGE} takes {{}}, {{name}} or {{id}}")
        batch = [
            index
            for index in self.indexes(namespace)
            if all(index[key] == value for key, value in selector.items())
        ]
        cursor = {"id": Int64(0), "ns": namespace, "firstBatch": batch}
        return {"cursor": cursor, "ok": 1.0}

    def _create(self, namespace: str, requested: Any) -> Document:
        if not isinstance(requested, list) or not requested:
            return _bad("createSearchIndexes needs a non-empty indexes array")
        existing = {index["name"] for index in self._by_namespace.get(namespace, [])}
        created: list[Document] = []
        for spec in requested:
            if not isinstance(spec, dict) or not isinstance(spec.get("definition"), dict):
                return _bad("each search index needs a definition document")
            index_type = spec.get("type", "search")
            if index_type not in ("search", "vectorSearch"):
                return _error(2, "BadValue", f"unknown search index type {index_type!r}")
            name = spec.get("name", "default")
            if name in existing:
                return _error(68, "IndexAlreadyExists", "Duplicate Index")
            existing.add(name)
            created.append(
                {
                    "id": str(ObjectId()),
                    "name": name,
                    "type": index_type,
                    "definition": copy.deepcopy(spec["definition"]),
                }
            )
        self._by_namespace.setdefault(namespace, []).extend(created)
        return {
            "indexesCreated": [{"id": index["id"], "name": index["name"]} for index in created],
            "ok": 1.0,
        }

    def _find(self, namespace: str, command: Document) -> Document | None:
        key = "name" if "name" in command else "id"
        for index in self._by_namespace.get(namespace, []):
            if index[key] == command.get(key):
                return index
        return None


async def _read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One whole wire-protocol message, header included; None at the end of the stream."""
    try:
        header = await reader.readexactly(16)
        length = int.from_bytes(header[:4], "little")
        if not 16 <= length <= _MAX_MESSAGE_SIZE:
            raise ValueError(f"message length {length} out of range")
        return header + await reader.readexactly(length - 16)
    except asyncio.IncompleteReadError:
        return None


async def _close_stream(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


class _ClientStream:
    """The client side of one connection; whole messages only, whichever task sends them."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._lock = asyncio.Lock()

    async def send(self, message: bytes) -> None:
        async with self._lock:
            self._writer.write(message)
            await self._writer.drain()


class SearchStandIn:
    """A proxy on 127.0.0.1 to a real mongod that answers the search-index commands itself.

    ``commands`` lists the search commands answered, in order (``"$listSearchIndexes"`` for
    the aggregate, errors included). Use as ``async with SearchStandIn(host, port) as standin``.
    The upstream must accept unauthenticated connections for the stand-in's own checks.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.commands: list[str] = []
        self._catalog = SearchIndexCatalog()
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._upstream: AsyncMongoClient[Document] | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._request_ids = itertools.count(1)

    @property
    def uri(self) -> str:
        """The URI clients use; direct, so the driver never bypasses to the upstream."""
        if self._port is None:
            raise RuntimeError("the search stand-in is not started")
        return f"mongodb://127.0.0.1:{self._port}/?directConnection=true"

    def indexes(self, namespace: str) -> list[Document]:
        """The search indexes stored for ``namespace`` (``db.coll``), as Atlas lists them."""
        return self._catalog.indexes(namespace)

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        if self._server is not None:
            raise RuntimeError("the search stand-in is already started")
        self._upstream = AsyncMongoClient(
            self.upstream_host, self.upstream_port, directConnection=True
        )
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening, end every connection and its tasks, close the upstream client."""
        server, self._server, self._port = self._server, None, None
        if server is not None:
            server.close()
            connections = list(self._connections)
            for connection in connections:
                connection.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            await server.wait_closed()
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            await upstream.close()

    async def __aenter__(self) -> SearchStandIn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback runs inside connection_made, so the task is tracked before close()
        # can look for it.
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        """Relay one client connection both ways until either side ends."""
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
            client = _ClientStream(client_writer)
            relays = [
                asyncio.create_task(self._relay_requests(client_reader, upstream_writer, client)),
                asyncio.create_task(_relay_replies(upstream_reader, client)),
            ]
            try:
                await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for relay in relays:
                    relay.cancel()
                outcomes = await asyncio.gather(*relays, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Exception) and not isinstance(outcome, OSError):
                    logger.error("search stand-in relay failed", exc_info=outcome)
        except OSError as error:
            logger.debug("search stand-in connection ended: %s", error)
        finally:
            if upstream_writer is not None:
                await _close_stream(upstream_writer)
            await _close_stream(client_writer)

    async def _relay_requests(
        self,
        client_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
        client: _ClientStream,
    ) -> None:
        while (message := await _read_message(client_reader)) is not None:
            command = search_command(message)
            if command is None:
                upstream_writer.write(message)
                await upstream_writer.drain()
                continue
            reply = await self._answer(command)
            if not int.from_bytes(message[16:20], "little") & _MORE_TO_COME:
                request_id = _HEADER.unpack_from(message)[1]
                response = encode_op_msg(
                    reply, request_id=next(self._request_ids), response_to=request_id
                )
                await client.send(response)

    async def _answer(self, command: Document) -> Document:
        name = next(iter(command))
        self.commands.append(_LIST_STAGE if name == "aggregate" else name)
        exists = name == "aggregate" or await self._collection_exists(command)
        return self._catalog.answer(command, collection_exists=exists)

    async def _collection_exists(self, command: Document) -> bool:
        database, collection = command.get("$db"), next(iter(command.values()))
        if not isinstance(database, str) or not isinstance(collection, str):
            return True  # the catalog refuses the command itself
        assert self._upstream is not None
        found = await self._upstream[database].list_collection_names(filter={"name": collection})
        return bool(found)


async def _relay_replies(upstream_reader: asyncio.StreamReader, client: _ClientStream) -> None:
    # Not lockstep: an exhaust hello gets a stream of replies to its one request.
    while (message := await _read_message(upstream_reader)) is not None:
        await client.send(message)
