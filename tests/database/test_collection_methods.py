"""Each ScopedCollection method against the real server: PyMongo's results, errors and options."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo import (
    ASCENDING,
    DeleteOne,
    IndexModel,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateMany,
    UpdateOne,
    WriteConcern,
)
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)

from mdb_engine import MongoDBEngine, ScopeViolation
from mdb_engine.database import ScopedCollection, ScopedDatabase

Raw = Any


@pytest.fixture
async def apps(engine: MongoDBEngine) -> tuple[ScopedDatabase, ScopedDatabase]:
    for slug in ("app_a", "app_b"):
        await engine.register_app({"schema_version": "2.0", "slug": slug, "name": slug})
    a, b = engine.get_scoped_db("app_a"), engine.get_scoped_db("app_b")
    await a.tasks.insert_many([{"_id": i, "n": i, "tag": "a"} for i in range(5)])
    await b.tasks.insert_many([{"_id": i, "n": i, "tag": "b"} for i in range(8)])
    return a, b


@pytest.fixture
def tasks(apps: tuple[ScopedDatabase, ScopedDatabase]) -> ScopedCollection:
    return apps[0].tasks


async def raw_docs(mongo_client: Raw, database: str, collection: str) -> list[dict[str, Any]]:
    cursor = mongo_client[database][collection].find({}, sort=[("_id", 1)])
    documents: list[dict[str, Any]] = await cursor.to_list()
    return documents


async def test_inserts_return_pymongo_results(tasks: ScopedCollection) -> None:
    document: dict[str, Any] = {"n": 10}
    single = await tasks.insert_one(document)
    assert isinstance(single, InsertOneResult)
    assert single.inserted_id == document["_id"]
    assert "app_id" not in document
    documents: list[dict[str, Any]] = [{"n": 11}, {"n": 12}]
    many = await tasks.insert_many(documents)
    assert isinstance(many, InsertManyResult)
    assert many.inserted_ids == [d["_id"] for d in documents]
    assert all(isinstance(d["_id"], ObjectId) for d in documents)


async def test_driver_errors_pass_through(tasks: ScopedCollection) -> None:
    with pytest.raises(DuplicateKeyError):
        await tasks.insert_one({"_id": 1})
    with pytest.raises(BulkWriteError):
        await tasks.insert_many([{"_id": 100}, {"_id": 100}])
    with pytest.raises(OperationFailure):
        await tasks.update_one({"_id": 1}, {"$inc": {"tag": 1}})
    with pytest.raises(TypeError):
        await tasks.update_one(None, {"$set": {"x": 1}})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\$ operators"):
        await tasks.update_one({}, {"x": 1})


async def test_find_cursor_options(tasks: ScopedCollection) -> None:
    await tasks.create_index([("n", ASCENDING)], name="n_1")
    cursor = (
        tasks.find({"n": {"$gte": 1}}, {"n": 1, "_id": 0})
        .sort("n", -1)
        .skip(1)
        .limit(2)
        .batch_size(1)
        .hint("n_1")
        .max_time_ms(5000)
        .comment("c")
        .collation({"locale": "en"})
    )
    assert await cursor.to_list() == [{"n": 3}, {"n": 2}]
    assert [d["n"] async for d in tasks.find(filter={"tag": "a"}).sort("n")] == [0, 1, 2, 3, 4]
    assert await tasks.find().distinct("tag") == ["a"]
    explained = await tasks.find({"n": 1}).explain()
    assert "queryPlanner" in explained
    cursor = tasks.find().sort("_id")
    assert (await cursor.next())["_id"] == 0
    clone = cursor.clone()
    assert len(await clone.to_list()) == 5
    await cursor.rewind()
    assert (await cursor.next())["_id"] == 0
    async with tasks.find() as context_cursor:
        assert len(await context_cursor.to_list(2)) == 2
    with pytest.raises(ScopeViolation):
        tasks.find().where("true")


async def test_find_one_forms(tasks: ScopedCollection) -> None:
    assert (await tasks.find_one({"_id": 2}))["n"] == 2  # type: ignore[index]
    assert await tasks.find_one(2) == {"_id": 2, "n": 2, "tag": "a", "app_id": "app_a"}
    assert await tasks.find_one(2, {"n": 1}) == {"_id": 2, "n": 2}
    assert await tasks.find_one({"_id": 2}, projection={"app_id": 0}) == {
        "_id": 2,
        "n": 2,
        "tag": "a",
    }
    assert await tasks.find_one({"_id": 2}, ["tag"]) == {"_id": 2, "tag": "a"}
    assert await tasks.find_one({"_id": 99}) is None
    assert (await tasks.find_one({"n": {"$gt": 3}}))["_id"] == 4  # type: ignore[index]
    assert await tasks.find_one({"_id": 2}, {"n": {"$add": [1, 1]}}) == {"_id": 2, "n": 2}
    assert await tasks.find_one(sort=[("n", -1)], projection={"_id": 1}) == {"_id": 4}


async def test_updates_and_deletes(
    tasks: ScopedCollection, mongo_client: Raw, mongodb_database: str
) -> None:
    one = await tasks.update_one({"_id": 1}, {"$set": {"done": True}})
    assert isinstance(one, UpdateResult)
    assert (one.matched_count, one.modified_count) == (1, 1)
    many = await tasks.update_many({}, [{"$set": {"doubled": {"$multiply": ["$n", 2]}}}])
    assert many.modified_count == 5
    replaced = await tasks.replace_one({"_id": 2}, {"n": 20})
    assert replaced.modified_count == 1
    upserted = await tasks.replace_one({"_id": 50}, {"n": 50}, upsert=True)
    assert upserted.upserted_id == 50
    deleted = await tasks.delete_one({"_id": 3})
    assert isinstance(deleted, DeleteResult)
    assert deleted.deleted_count == 1
    assert (await tasks.delete_many({"n": {"$gte": 20}})).deleted_count == 2
    stored = await raw_docs(mongo_client, mongodb_database, "app_a_tasks")
    assert [d["_id"] for d in stored] == [0, 1, 4]
    assert all(d["app_id"] == "app_a" and d["doubled"] == 2 * d["n"] for d in stored)
    b_docs = await raw_docs(mongo_client, mongodb_database, "app_b_tasks")
    assert len(b_docs) == 8
    assert all("doubled" not in d for d in b_docs)


async def test_find_one_and_family(tasks: ScopedCollection) -> None:
    before = await tasks.find_one_and_update({"_id": 1}, {"$inc": {"n": 10}})
    assert before["n"] == 1  # type: ignore[index]
    after = await tasks.find_one_and_update(
        {"_id": 1}, {"$inc": {"n": 10}}, projection={"n": 1}, return_document=ReturnDocument.AFTER
    )
    assert after == {"_id": 1, "n": 21}
    created = await tasks.find_one_and_update(
        {"name": "new"}, {"$set": {"n": 7}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert created["app_id"] == "app_a"
    assert created["name"] == "new"
    replaced = await tasks.find_one_and_replace(
        {"_id": 2}, {"n": 200}, return_document=ReturnDocument.AFTER
    )
    assert replaced == {"_id": 2, "n": 200, "app_id": "app_a"}
    deleted = await tasks.find_one_and_delete({"_id": 2}, projection={"_id": 1})
    assert deleted == {"_id": 2}
    assert await tasks.find_one_and_delete({"_id": 6}) is None  # exists only in app_b


async def test_counts_and_distinct(tasks: ScopedCollection) -> None:
    assert await tasks.count_documents({}) == 5
    assert await tasks.count_documents({"n": {"$lt": 2}}, limit=1) == 1
    assert await tasks.estimated_document_count() == 5
    assert await tasks.estimated_document_count(maxTimeMS=5000) == 5
    assert sorted(await tasks.distinct("n")) == [0, 1, 2, 3, 4]
    assert await tasks.distinct("tag", {"n": 1}) == ["a"]
    assert await tasks.distinct("app_id") == ["app_a"]


async def test_aggregate_and_out(
    apps: tuple[ScopedDatabase, ScopedDatabase], mongo_client: Raw, mongodb_database: str
) -> None:
    a, _ = apps
    pipeline = [{"$group": {"_id": "$tag", "total": {"$sum": "$n"}}}]
    cursor = await a.tasks.aggregate(pipeline)
    assert await cursor.to_list() == [{"_id": "a", "total": 10}]
    joined = await a.tasks.aggregate(
        [
            {"$match": {"_id": 1}},
            {"$lookup": {"from": "tasks", "localField": "n", "foreignField": "n", "as": "same"}},
            {"$unionWith": "tasks"},
            {"$count": "n"},
        ]
    )
    assert [d async for d in joined] == [{"n": 6}]
    out = await a.tasks.aggregate([{"$set": {"app_id": "app_b"}}, {"$out": "summary"}])
    assert await out.to_list() == []
    stored = await raw_docs(mongo_client, mongodb_database, "app_a_summary")
    assert len(stored) == 5
    assert {d["app_id"] for d in stored} == {"app_a"}
    assert set(await a.list_collection_names()) == {"tasks", "summary"}


async def test_bulk_write(
    tasks: ScopedCollection, mongo_client: Raw, mongodb_database: str
) -> None:
    new: dict[str, Any] = {"n": 30}
    result = await tasks.bulk_write(
        [
            InsertOne(new),
            UpdateOne({"_id": 0}, {"$set": {"x": 1}}),
            UpdateMany({"n": {"$gte": 3}}, [{"$set": {"big": True}}]),
            ReplaceOne({"_id": 77}, {"n": 77}, upsert=True),
            UpdateOne({"_id": 78}, {"$set": {"n": 78}}, upsert=True),
            DeleteOne({"_id": 1}),
        ]
    )
    assert isinstance(result, BulkWriteResult)
    assert (result.inserted_count, result.upserted_count, result.deleted_count) == (1, 2, 1)
    assert isinstance(new["_id"], ObjectId)
    stored = await raw_docs(mongo_client, mongodb_database, "app_a_tasks")
    assert {d["app_id"] for d in stored} == {"app_a"}
    assert len(stored) == 7
    with pytest.raises(ScopeViolation):
        await tasks.bulk_write([InsertOne({"n": 1}), InsertOne({"app_id": "app_b"})])
    assert await tasks.count_documents({}) == 7


async def test_index_methods_and_rename(
    tasks: ScopedCollection, apps: tuple[ScopedDatabase, ScopedDatabase]
) -> None:
    assert await tasks.create_index("n", name="by_n") == "by_n"
    names = await tasks.create_indexes([IndexModel([("tag", 1)], name="by_tag")])
    assert names == ["by_tag"]
    listed = [index["name"] async for index in await tasks.list_indexes()]
    assert listed == ["_id_", "by_n", "by_tag"]
    assert set(await tasks.index_information()) == {"_id_", "by_n", "by_tag"}
    await tasks.drop_index("by_n")
    await tasks.drop_indexes()
    assert list(await tasks.index_information()) == ["_id_"]
    await tasks.rename("archive")
    a, b = apps
    assert await a.list_collection_names() == ["archive"]
    assert await a.archive.count_documents({}) == 5
    assert await b.tasks.count_documents({}) == 8
    for bad in ("_mdb_engine_apps", "system.users", "a..b", "$cmd", "tаsks"):
        with pytest.raises(ScopeViolation):
            await a.archive.rename(bad)
    await a.archive.drop()
    assert await a.list_collection_names() == []


async def test_with_options_keeps_the_scope(tasks: ScopedCollection) -> None:
    quiet = tasks.with_options(write_concern=WriteConcern(w=1, j=False))
    assert isinstance(quiet, ScopedCollection)
    assert quiet.name == "tasks"
    assert quiet.write_concern == WriteConcern(w=1, j=False)
    await quiet.insert_one({"_id": 9})
    assert await tasks.count_documents({}) == 6


async def test_transactions_commit_and_abort(
    engine: MongoDBEngine, tasks: ScopedCollection
) -> None:
    async with engine.start_session() as session, await session.start_transaction():
        await tasks.insert_one({"_id": 40}, session=session)
        await tasks.update_one({"_id": 0}, {"$set": {"t": 1}}, session=session)
        assert await tasks.count_documents({}, session=session) == 6
    assert await tasks.count_documents({}) == 6
    async with engine.start_session() as session:
        await session.start_transaction()
        await tasks.insert_one({"_id": 41}, session=session)
        await session.abort_transaction()
    assert await tasks.find_one({"_id": 41}) is None


async def test_collection_watch_carries_only_this_apps_events(
    apps: tuple[ScopedDatabase, ScopedDatabase], mongo_client: Raw, mongodb_database: str
) -> None:
    a, b = apps
    async with await a.tasks.watch(max_await_time_ms=200) as stream:
        await b.tasks.insert_one({"_id": 100})
        # Written past the engine, so it has a foreign app_id in app_a's own collection.
        await mongo_client[mongodb_database]["app_a_tasks"].insert_one(
            {"_id": 101, "app_id": "app_b"}
        )
        await a.tasks.insert_one({"_id": 102})
        event = await stream.next()
        assert event["fullDocument"]["_id"] == 102
        assert stream.resume_token is not None
        assert stream.alive
        assert await stream.try_next() is None


async def test_database_watch_covers_this_apps_collections_only(
    apps: tuple[ScopedDatabase, ScopedDatabase],
) -> None:
    a, b = apps
    async with await a.watch([{"$match": {"operationType": "insert"}}]) as stream:
        await b.tasks.insert_one({"_id": 200})
        await b.notes.insert_one({"_id": 201})
        await a.notes.insert_one({"_id": 202})
        event = await stream.next()
        assert event["ns"]["coll"] == "app_a_notes"
        assert event["documentKey"] == {"_id": 202}
        assert await stream.try_next() is None


async def test_upsert_with_the_apps_own_id_in_the_filter(
    tasks: ScopedCollection, mongo_client: Raw, mongodb_database: str
) -> None:
    result = await tasks.update_one({"app_id": "app_a", "k": 1}, {"$set": {"y": 1}}, upsert=True)
    created = await mongo_client[mongodb_database]["app_a_tasks"].find_one(
        {"_id": result.upserted_id}
    )
    assert created == {"_id": result.upserted_id, "app_id": "app_a", "k": 1, "y": 1}
    assert await tasks.count_documents({"app_id": "app_a"}) == 6
    assert await tasks.count_documents({"app_id": "app_b"}) == 0
