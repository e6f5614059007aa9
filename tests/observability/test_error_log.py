"""The error log: app errors captured from logging, redacted, stored in MongoDB, per engine."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta, timezone
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import ServerSelectionTimeoutError

from mdb_engine import MongoDBEngine
from mdb_engine.observability import app_context, request_context
from mdb_engine.observability.error_log import MAX_MESSAGE_CHARS, ErrorLog, is_error_log_handler

SHOP = {"schema_version": "2.0", "slug": "shop", "name": "Shop"}
BLOG = {"schema_version": "2.0", "slug": "blog", "name": "Blog"}
log = logging.getLogger("tests.error_log")


async def test_errors_of_an_app_are_stored_with_their_context(
    engine: MongoDBEngine, mongo_client: AsyncMongoClient[Any], mongodb_database: str
) -> None:
    await engine.register_app(SHOP)
    with app_context("shop"), request_context("req-42"):
        log.error("checkout failed for order %d", 7)
        log.warning("a warning is not an error")
        try:
            raise RuntimeError("boom, token=abc123secret")
        except RuntimeError:
            log.exception("unexpected")
    log.error("no app: not kept")
    with app_context("unknown_app"):
        log.error("not one of this engine's apps")

    entries = await engine.error_log.recent("shop")
    assert [entry.message for entry in entries] == ["unexpected", "checkout failed for order 7"]
    newest, oldest = entries
    assert oldest.level == "ERROR"
    assert oldest.logger == "tests.error_log"
    assert oldest.request_id == "req-42"
    assert oldest.app_id == "shop"
    assert oldest.time.tzinfo == timezone.utc
    assert oldest.exception is None
    assert newest.exception is not None
    assert "RuntimeError" in newest.exception
    assert "abc123secret" not in newest.exception  # redacted
    stored = await mongo_client[mongodb_database]["_mdb_engine_errors"].find().to_list()
    assert len(stored) == 2
    assert all(doc["expires_at"] - doc["time"] == timedelta(days=7) for doc in stored)
    indexes = await mongo_client[mongodb_database]["_mdb_engine_errors"].index_information()
    assert any(index.get("expireAfterSeconds") == 0 for index in indexes.values())


async def test_a_record_tagged_by_extra_counts_and_secrets_are_masked(
    engine: MongoDBEngine,
) -> None:
    await engine.register_app(SHOP)
    log.error(
        "login failed password=hunter2 and %s",
        "x" * (MAX_MESSAGE_CHARS + 50),
        extra={"app_id": "shop"},
    )
    (entry,) = await engine.error_log.recent("shop")
    assert "hunter2" not in entry.message
    assert "password=[REDACTED]" in entry.message
    assert entry.message.endswith("[truncated]")
    assert len(entry.message) < MAX_MESSAGE_CHARS + 20


async def test_recent_is_newest_first_and_limited(engine: MongoDBEngine) -> None:
    await engine.register_app(SHOP)
    with app_context("shop"):
        for number in range(5):
            log.error("error %d", number)
    entries = await engine.error_log.recent("shop", limit=3)
    assert [entry.message for entry in entries] == ["error 4", "error 3", "error 2"]
    assert await engine.error_log.recent("blog") == []


async def test_errors_logged_from_another_thread_are_kept(engine: MongoDBEngine) -> None:
    await engine.register_app(SHOP)

    def work() -> None:
        log.error("from a worker thread", extra={"app_id": "shop"})

    await asyncio.to_thread(work)
    await asyncio.sleep(0.05)  # the thread woke the writer through the loop
    assert [entry.message for entry in await engine.error_log.recent("shop")] == [
        "from a worker thread"
    ]


async def test_two_engines_keep_their_own_apps_errors(
    mongodb_uri: str, mongodb_database: str
) -> None:
    async with (
        MongoDBEngine(mongodb_uri, mongodb_database + "_a") as first,
        MongoDBEngine(mongodb_uri, mongodb_database + "_b") as second,
    ):
        try:
            await first.register_app(SHOP)
            await second.register_app(BLOG)
            with app_context("shop"):
                log.error("shop broke")
            with app_context("blog"):
                log.error("blog broke")
            assert [e.message for e in await first.error_log.recent("shop")] == ["shop broke"]
            assert await first.error_log.recent("blog") == []
            assert [e.message for e in await second.error_log.recent("blog")] == ["blog broke"]
            assert await second.error_log.recent("shop") == []
        finally:
            client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_uri)
            await client.drop_database(mongodb_database + "_a")
            await client.drop_database(mongodb_database + "_b")
            await client.close()


async def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    async def unreachable(name: str, **options: Any) -> Any:
        raise ServerSelectionTimeoutError("no server")

    error_log = ErrorLog(unreachable, lambda slug: slug == "shop", max_pending=2)
    error_log.start()
    try:
        # Logged without yielding to the writer: the queue fills up, the calls return at once.
        with app_context("shop"):
            for number in range(5):
                log.error("error %d", number)
        assert error_log.dropped == 3
    finally:
        await error_log.close()  # the two queued records cannot be stored: counted as lost
    assert error_log.dropped == 5
    assert not error_log.is_running
    assert not any(is_error_log_handler(h) for h in logging.getLogger().handlers)


async def test_the_handler_comes_and_goes_with_the_engine(
    mongodb_uri: str, mongodb_database: str
) -> None:
    engine = MongoDBEngine(mongodb_uri, mongodb_database)
    assert not engine.error_log.is_running
    await engine.initialize()
    assert engine.error_log.handler in logging.getLogger().handlers
    await engine.register_app(SHOP)
    with app_context("shop"):
        log.error("stored at shutdown")
    await engine.shutdown()  # flushes what was queued
    assert engine.error_log.handler not in logging.getLogger().handlers
    async with MongoDBEngine(mongodb_uri, mongodb_database) as again:
        assert [e.message for e in await again.error_log.recent("shop")] == ["stored at shutdown"]
