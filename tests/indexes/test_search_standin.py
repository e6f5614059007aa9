"""The search stand-in relays a real mongod unchanged and answers search-index commands itself."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Mapping
from typing import Any

import bson
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, OperationFailure
from pymongo.monitoring import (
    ServerHeartbeatFailedEvent,
    ServerHeartbeatListener,
    ServerHeartbeatStartedEvent,
    ServerHeartbeatSucceededEvent,
)
from pymongo.operations import SearchIndexModel
from pymongo.uri_parser import parse_uri
from search_standin import OP_MSG, SearchStandIn, decode_op_msg, encode_op_msg, search_command

RawClient = AsyncMongoClient[dict[str, Any]]

SEARCH_DEFINITION: dict[str, Any] = {"mappings": {"dynamic": True}}
VECTOR_DEFINITION: dict[str, Any] = {
    "fields": [{"type": "vector", "path": "e", "numDimensions": 3, "similarity": "cosine"}]
}


@pytest.fixture
async def proxied(search_standin: SearchStandIn) -> AsyncIterator[RawClient]:
    """A client that talks to the server only through the stand-in."""
    client: RawClient = AsyncMongoClient(search_standin.uri)
    try:
        yield client
    finally:
        await client.close()


async def _existing_collection(
    client: RawClient, database: str, name: str = "docs"
) -> AsyncCollection[dict[str, Any]]:
    collection = client[database][name]
    await collection.insert_one({"_id": 0})
    return collection


def _op_msg_with_sequence(*, checksum: bool) -> bytes:
    body = bson.encode({"insert": "docs", "$db": "db"})
    documents = bson.encode({"_id": 1}) + bson.encode({"_id": 2})
    identifier = b"documents\x00"
    sequence = struct.pack("<i", 4 + len(identifier) + len(documents)) + identifier + documents
    payload = b"\x00" + body + b"\x01" + sequence
    flags = 1 if checksum else 0
    length = 16 + 4 + len(payload) + (4 if checksum else 0)
    message = struct.pack("<iiiii", length, 7, 0, OP_MSG, flags) + payload
    # The stand-in strips a checksum without checking it, so any four bytes will do.
    return message + (b"\xde\xad\xbe\xef" if checksum else b"")


@pytest.mark.parametrize("checksum", [False, True])
def test_op_msg_sections_are_merged_into_the_command(checksum: bool) -> None:
    command = decode_op_msg(_op_msg_with_sequence(checksum=checksum))
    assert command == {"insert": "docs", "$db": "db", "documents": [{"_id": 1}, {"_id": 2}]}


def test_only_search_commands_are_intercepted() -> None:
    def message(command: dict[str, Any]) -> bytes:
        return encode_op_msg(command, request_id=1, response_to=0)

    listing = {"aggregate": "c", "pipeline": [{"$listSearchIndexes": {}}], "$db": "d"}
    assert search_command(message(listing)) == listing
    assert search_command(message({"dropSearchIndex": "c", "name": "n", "$db": "d"})) is not None
    later = {"aggregate": "c", "pipeline": [{"$match": {"$listSearchIndexes": 1}}], "$db": "d"}
    assert search_command(message(later)) is None
    assert search_command(message({"find": "c", "$db": "d"})) is None
    assert search_command(message({})) is None
    assert search_command(_op_msg_with_sequence(checksum=True)) is None


async def test_crud_passes_through(
    proxied: RawClient, mongo_client: RawClient, mongodb_database: str
) -> None:
    collection = proxied[mongodb_database]["docs"]
    await collection.insert_many([{"_id": i, "n": i} for i in range(5)])
    await collection.update_one({"_id": 1}, {"$set": {"n": 10}})
    await collection.delete_one({"_id": 4})
    assert await collection.count_documents({}) == 4
    assert [doc async for doc in collection.find({}, batch_size=2).sort("_id")] == [
        {"_id": 0, "n": 0},
        {"_id": 1, "n": 10},
        {"_id": 2, "n": 2},
        {"_id": 3, "n": 3},
    ]
    assert await mongo_client[mongodb_database]["docs"].count_documents({}) == 4


async def test_transactions_pass_through(
    proxied: RawClient, mongo_client: RawClient, mongodb_database: str
) -> None:
    collection = await _existing_collection(proxied, mongodb_database)
    async with proxied.start_session() as session:
        async with await session.start_transaction():
            await collection.insert_one({"_id": 1}, session=session)
            await collection.insert_one({"_id": 2}, session=session)
        async with await session.start_transaction():
            await collection.insert_one({"_id": 3}, session=session)
            await session.abort_transaction()
    direct = mongo_client[mongodb_database]["docs"]
    assert await direct.distinct("_id") == [0, 1, 2]


async def test_streaming_heartbeats_pass_through(search_standin: SearchStandIn) -> None:
    class Heartbeats(ServerHeartbeatListener):
        awaited_replies = 0

        def started(self, event: ServerHeartbeatStartedEvent) -> None:
            pass

        def succeeded(self, event: ServerHeartbeatSucceededEvent) -> None:
            self.awaited_replies += event.awaited

        def failed(self, event: ServerHeartbeatFailedEvent) -> None:
            pass

    heartbeats = Heartbeats()
    client: RawClient = AsyncMongoClient(
        search_standin.uri, heartbeatFrequencyMS=500, event_listeners=[heartbeats]
    )
    try:
        await client.admin.command("ping")
        for _ in range(50):
            if heartbeats.awaited_replies >= 2:
                break
            await asyncio.sleep(0.1)
        assert heartbeats.awaited_replies >= 2  # several replies to one exhaust hello
        assert (await client.admin.command("ping"))["ok"] == 1.0
    finally:
        await client.close()


async def test_direct_server_has_no_search(mongo_client: RawClient, mongodb_database: str) -> None:
    collection = await _existing_collection(mongo_client, mongodb_database)
    with pytest.raises(OperationFailure) as listing:
        await collection.list_search_indexes()
    assert listing.value.code == 40324
    with pytest.raises(OperationFailure) as creation:
        await collection.create_search_index(SearchIndexModel(SEARCH_DEFINITION, name="s"))
    assert creation.value.code == 59


async def test_search_index_lifecycle(
    search_standin: SearchStandIn, proxied: RawClient, mongodb_database: str
) -> None:
    collection = await _existing_collection(proxied, mongodb_database)
    namespace = f"{mongodb_database}.docs"
    assert await (await collection.list_search_indexes()).to_list() == []

    name = await collection.create_search_index(SearchIndexModel(SEARCH_DEFINITION))
    assert name == "default"
    names = await collection.create_search_indexes(
        [
            SearchIndexModel(VECTOR_DEFINITION, name="vec", type="vectorSearch"),
            SearchIndexModel({"mappings": {"dynamic": False}}, name="text"),
        ]
    )
    assert names == ["vec", "text"]

    listed = await (await collection.list_search_indexes()).to_list()
    assert [(index["name"], index["type"]) for index in listed] == [
        ("default", "search"),
        ("vec", "vectorSearch"),
        ("text", "search"),
    ]
    assert listed == search_standin.indexes(namespace)
    vector = listed[1]
    assert isinstance(vector["id"], str)
    assert vector["status"] == "READY"
    assert vector["queryable"] is True
    assert vector["latestDefinition"] == VECTOR_DEFINITION

    await collection.update_search_index("text", SEARCH_DEFINITION)
    (text,) = await (await collection.list_search_indexes("text")).to_list()
    assert text["latestDefinition"] == SEARCH_DEFINITION

    await collection.drop_search_index("default")
    assert [index["name"] for index in search_standin.indexes(namespace)] == ["vec", "text"]
    assert search_standin.commands == [
        "$listSearchIndexes",
        "createSearchIndexes",
        "createSearchIndexes",
        "$listSearchIndexes",
        "updateSearchIndex",
        "$listSearchIndexes",
        "dropSearchIndex",
    ]


async def test_indexes_are_kept_per_namespace(
    search_standin: SearchStandIn, proxied: RawClient, mongodb_database: str
) -> None:
    first = await _existing_collection(proxied, mongodb_database, "first")
    second = await _existing_collection(proxied, mongodb_database, "second")
    await first.create_search_index({"definition": SEARCH_DEFINITION, "name": "only_first"})
    assert await (await second.list_search_indexes()).to_list() == []
    assert search_standin.indexes(f"{mongodb_database}.second") == []
    assert len(search_standin.indexes(f"{mongodb_database}.first")) == 1


async def test_create_on_a_missing_collection_fails(
    search_standin: SearchStandIn, proxied: RawClient, mongodb_database: str
) -> None:
    with pytest.raises(OperationFailure) as failure:
        await proxied[mongodb_database]["missing"].create_search_index(
            SearchIndexModel(SEARCH_DEFINITION)
        )
    assert failure.value.code == 26
    assert f"'{mongodb_database}.missing'" in str(failure.value)
    assert search_standin.commands == ["createSearchIndexes"]
    assert search_standin.indexes(f"{mongodb_database}.missing") == []


async def test_duplicate_names_fail(
    search_standin: SearchStandIn, proxied: RawClient, mongodb_database: str
) -> None:
    collection = await _existing_collection(proxied, mongodb_database)
    await collection.create_search_index(SearchIndexModel(SEARCH_DEFINITION, name="s"))
    with pytest.raises(OperationFailure) as existing:
        await collection.create_search_index(SearchIndexModel(VECTOR_DEFINITION, name="s"))
    assert existing.value.code == 68
    with pytest.raises(OperationFailure) as within_one_command:
        await collection.create_search_indexes(
            [SearchIndexModel(SEARCH_DEFINITION, name="t"), SearchIndexModel({}, name="t")]
        )
    assert within_one_command.value.code == 68
    assert [index["name"] for index in search_standin.indexes(collection.full_name)] == ["s"]


async def test_unknown_index_fails_update_and_drop(
    proxied: RawClient, mongodb_database: str
) -> None:
    collection = await _existing_collection(proxied, mongodb_database)
    with pytest.raises(OperationFailure) as update:
        await collection.update_search_index("nope", SEARCH_DEFINITION)
    assert update.value.code == 27
    assert update.value.details == {
        "ok": 0.0,
        "errmsg": "Index nope not found",
        "code": 27,
        "codeName": "IndexNotFound",
    }
    with pytest.raises(OperationFailure) as drop:
        await collection.drop_search_index("nope")
    assert drop.value.code == 27


async def test_missing_collection_is_ignored_by_update_and_drop(
    search_standin: SearchStandIn, proxied: RawClient, mongodb_database: str
) -> None:
    collection = proxied[mongodb_database]["missing"]
    await collection.update_search_index("nope", SEARCH_DEFINITION)  # PyMongo allows code 26
    await collection.drop_search_index("nope")
    assert search_standin.commands == ["updateSearchIndex", "dropSearchIndex"]


async def test_listing_by_an_unknown_name_is_empty(
    proxied: RawClient, mongodb_database: str
) -> None:
    collection = await _existing_collection(proxied, mongodb_database)
    await collection.create_search_index(SearchIndexModel(SEARCH_DEFINITION))
    assert await (await collection.list_search_indexes("other")).to_list() == []


async def test_concurrent_operations(
    search_standin: SearchStandIn, proxied: RawClient, mongodb_database: str
) -> None:
    collection = await _existing_collection(proxied, mongodb_database)
    await collection.create_search_index(SearchIndexModel(SEARCH_DEFINITION))
    await asyncio.gather(*(collection.insert_one({"_id": i + 1}) for i in range(50)))

    async def find(i: int) -> dict[str, Any] | None:
        return await collection.find_one({"_id": i + 1})

    async def listing() -> list[Mapping[str, Any]]:
        return await (await collection.list_search_indexes()).to_list()

    found, listings = await asyncio.gather(
        asyncio.gather(*(find(i) for i in range(50))),
        asyncio.gather(*(listing() for _ in range(20))),
    )
    assert found == [{"_id": i + 1} for i in range(50)]
    assert all(len(indexes) == 1 for indexes in listings)
    assert search_standin.commands.count("$listSearchIndexes") == 20


async def test_close_leaves_no_tasks(mongodb_uri: str, mongodb_database: str) -> None:
    host, port = parse_uri(mongodb_uri)["nodelist"][0]
    before = asyncio.all_tasks()
    standin = SearchStandIn(host, port)
    await standin.start()
    client: RawClient = AsyncMongoClient(standin.uri)
    await asyncio.gather(*(client[mongodb_database]["docs"].insert_one({}) for _ in range(10)))
    await client.close()
    await standin.close()
    assert asyncio.all_tasks() == before
    with pytest.raises(RuntimeError):
        _ = standin.uri


async def test_close_ends_open_connections(mongodb_uri: str, mongodb_database: str) -> None:
    host, port = parse_uri(mongodb_uri)["nodelist"][0]
    before = asyncio.all_tasks()
    async with SearchStandIn(host, port) as standin:
        client: RawClient = AsyncMongoClient(standin.uri, serverSelectionTimeoutMS=500)
        await client[mongodb_database]["docs"].insert_one({})
    try:
        with pytest.raises(ConnectionFailure):
            await client[mongodb_database]["docs"].find_one({})
    finally:
        await client.close()
    assert asyncio.all_tasks() == before
