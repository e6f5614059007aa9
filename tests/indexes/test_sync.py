"""Index sync on the real server, checked through ``listIndexes`` and the commands sent."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from mdb_engine import MongoDBEngine
from mdb_engine.core.manifest import parse_manifest
from mdb_engine.errors import (
    AppNotRegistered,
    ConfigurationError,
    IndexConflict,
    IndexManagementError,
)
from mdb_engine.indexes import SEARCH_FALLBACK, IndexAction
from mdb_engine.testing import CommandLog

RawClient = AsyncMongoClient[dict[str, Any]]
INDEX_COMMANDS = (
    "createIndexes",
    "dropIndexes",
    "collMod",
    "createSearchIndexes",
    "updateSearchIndex",
    "dropSearchIndex",
)
VECTOR = {"fields": [{"type": "vector", "path": "e", "numDimensions": 3, "similarity": "cosine"}]}

# 26 declarations: every supported kind, in both seed forms (with and without "type").
EVERY_KIND: dict[str, list[dict[str, Any]]] = {
    "tasks": [
        {"type": "regular", "keys": {"priority": -1}, "name": "priority_idx"},
        {"type": "regular", "keys": {"status": 1, "created_at": -1}, "name": "status_sort"},
        {"keys": {"email": 1}, "name": "email_unique", "unique": True},
        {"keys": {"nickname": 1}, "sparse": True},
        {"type": "partial", "keys": {"score": 1}, "partialFilterExpression": {"score": {"$gt": 5}}},
        {"type": "ttl", "keys": {"expires_at": 1}, "expireAfterSeconds": 3600},
        {
            "type": "text",
            "keys": {"title": "text", "body": "text"},
            "weights": {"title": 10},
            "default_language": "french",
        },
        {"type": "hashed", "keys": {"owner": "hashed"}},
        {"keys": {"name": 1}, "collation": {"locale": "en", "strength": 2}},
        {"keys": {"legacy": 1}, "hidden": True},
        {"type": "wildcard", "keys": {"attributes.$**": 1}},
        {"keys": [["org", 1], ["handle", 1]], "unique": True, "collation": {"locale": "fr"}},
    ],
    "places": [
        {"type": "geospatial", "keys": {"loc": "2dsphere"}},
        {"type": "geospatial", "keys": {"grid": "2d"}},
        {"keys": {"area": "2dsphere", "kind": 1}},
    ],
    "events": [
        {"type": "wildcard", "keys": {"$**": 1}, "wildcardProjection": {"payload": 0}},
        {"type": "ttl", "keys": {"created": 1}, "expireAfterSeconds": 86400, "name": "expire"},
        {
            "keys": {"ref": 1},
            "unique": True,
            "partialFilterExpression": {"ref": {"$exists": True}, "kind": "order"},
        },
        {"keys": {"a": 1, "b": -1, "c": 1}},
        {"type": "hashed", "keys": {"h": "hashed", "t": 1}},
        {"type": "text", "keys": {"note": "text"}, "language_override": "idioma"},
        {"keys": {"at": -1}},
    ],
    "people": [{"keys": {"surname": 1}}, {"type": "text", "keys": {"bio": "text"}}],
    "docs": [
        {"type": "vectorSearch", "name": "vec", "definition": VECTOR},
        {"type": "search", "definition": {"mappings": {"dynamic": True}}},
    ],
}


def manifest(slug: str = "idx_app", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": "2.0",
        "slug": slug,
        "name": "Indexes",
        "managed_indexes": copy.deepcopy(EVERY_KIND),
        # A collection default collation: plain indexes inherit it, text ones must not.
        "collection_settings": {"people": {"collation": {"locale": "fr"}}},
    }
    document.update(changes)
    return document


async def listed(client: RawClient, database: str, collection: str) -> dict[str, dict[str, Any]]:
    cursor = await client[database][collection].list_indexes()
    return {document["name"]: dict(document) async for document in cursor}


async def test_every_kind_is_created_as_declared(
    engine: MongoDBEngine,
    command_log: CommandLog,
    mongo_client: RawClient,
    mongodb_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="mdb_engine"):
        await engine.register_app(manifest())

    creates = command_log.named("createIndexes")
    # One createIndexes per collection, carrying all of its missing indexes.
    assert sorted((c.collection, len(c.command["indexes"])) for c in creates) == [
        ("idx_app_events", 7),
        ("idx_app_people", 2),
        ("idx_app_places", 3),
        ("idx_app_tasks", 12),
    ]
    tasks = await listed(mongo_client, mongodb_database, "idx_app_tasks")
    assert list(tasks["priority_idx"]["key"].items()) == [("priority", -1)]
    assert list(tasks["status_sort"]["key"].items()) == [("status", 1), ("created_at", -1)]
    assert tasks["email_unique"]["unique"] is True
    assert tasks["nickname_1"]["sparse"] is True
    assert tasks["score_1"]["partialFilterExpression"] == {"score": {"$gt": 5}}
    assert tasks["expires_at_1"]["expireAfterSeconds"] == 3600
    text = tasks["title_text_body_text"]
    assert list(text["key"].items()) == [("_fts", "text"), ("_ftsx", 1)]
    assert text["weights"] == {"title": 10, "body": 1}
    assert text["default_language"] == "french"
    assert tasks["owner_hashed"]["key"] == {"owner": "hashed"}
    assert tasks["name_1"]["collation"]["strength"] == 2
    assert tasks["legacy_1"]["hidden"] is True
    assert tasks["attributes.$**_1"]["key"] == {"attributes.$**": 1}
    assert list(tasks["org_1_handle_1"]["key"]) == ["org", "handle"]
    assert tasks["org_1_handle_1"]["collation"]["locale"] == "fr"
    places = await listed(mongo_client, mongodb_database, "idx_app_places")
    assert places["loc_2dsphere"]["key"] == {"loc": "2dsphere"}
    assert places["grid_2d"]["key"] == {"grid": "2d"}
    assert list(places["area_2dsphere_kind_1"]["key"].items()) == [
        ("area", "2dsphere"),
        ("kind", 1),
    ]
    events = await listed(mongo_client, mongodb_database, "idx_app_events")
    assert events["$**_1"]["wildcardProjection"] == {"payload": 0}
    assert events["expire"]["expireAfterSeconds"] == 86400
    assert events["ref_1"]["unique"] is True
    assert events["ref_1"]["partialFilterExpression"] == {"ref": {"$exists": True}, "kind": "order"}
    assert list(events["a_1_b_-1_c_1"]["key"].items()) == [("a", 1), ("b", -1), ("c", 1)]
    assert list(events["h_hashed_t_1"]["key"].items()) == [("h", "hashed"), ("t", 1)]
    assert events["note_text"]["language_override"] == "idioma"
    assert events["at_-1"]["key"] == {"at": -1}
    people = await listed(mongo_client, mongodb_database, "idx_app_people")
    assert people["surname_1"]["collation"]["locale"] == "fr"  # inherited from the collection
    assert "collation" not in people["bio_text"]
    # Community mongod has no Atlas Search: one warning names the fallback.
    warnings = [r.getMessage() for r in caplog.records if "search indexes" in r.getMessage()]
    assert len(warnings) == 1
    assert SEARCH_FALLBACK in warnings[0]
    assert "docs.vec" in warnings[0]


async def test_unchanged_restart_sends_no_index_command(
    mongodb_uri: str, mongodb_database: str, engine: MongoDBEngine
) -> None:
    await engine.register_app(manifest())
    log = CommandLog()
    async with MongoDBEngine(mongodb_uri, mongodb_database, event_listeners=[log]) as restarted:
        await restarted.register_app(manifest())
        plan = await restarted.plan_indexes("idx_app")
    assert log.named(*INDEX_COMMANDS) == []
    assert set(log.names()) <= {"ping", "find", "aggregate", "listCollections", "listIndexes"}
    assert len(plan.unchanged) == 24
    assert [change.name for change in plan.unsupported] == ["vec", "default"]
    assert plan.is_in_sync
    assert not plan.extra


async def test_index_built_outside_the_engine_with_the_same_spec_is_unchanged(
    engine: MongoDBEngine, command_log: CommandLog, mongo_client: RawClient, mongodb_database: str
) -> None:
    # The shell writes numbers as doubles and may spell flags out; still the same index.
    await mongo_client[mongodb_database].command(
        "createIndexes",
        "idx_app_tasks",
        indexes=[
            {"key": {"email": 1.0}, "name": "email_unique", "unique": True, "sparse": False},
            {"key": {"priority": -1.0}, "name": "priority_idx", "background": True},
        ],
    )
    only = {"tasks": EVERY_KIND["tasks"][:1] + EVERY_KIND["tasks"][2:3]}
    await engine.register_app(manifest(managed_indexes=only))
    assert command_log.named(*INDEX_COMMANDS) == []


async def test_plan_sends_only_reads_and_reports_every_action(
    engine: MongoDBEngine, command_log: CommandLog, mongo_client: RawClient, mongodb_database: str
) -> None:
    await engine.register_app(manifest(managed_indexes={"tasks": EVERY_KIND["tasks"][:3]}))
    raw = mongo_client[mongodb_database]["idx_app_tasks"]
    await raw.create_index("stray")
    await raw.drop_index("priority_idx")
    await raw.create_index([("priority", -1)], name="priority_idx", hidden=True)
    changed = copy.deepcopy(EVERY_KIND["tasks"][:4])
    changed[1]["keys"] = {"created_at": -1, "status": 1}
    command_log.clear()
    plan = await engine.plan_indexes(parse_manifest(manifest(managed_indexes={"tasks": changed})))
    assert set(command_log.names()) <= {"listCollections", "listIndexes"}
    assert {change.name: change.action for change in plan.changes} == {
        "priority_idx": IndexAction.MODIFY,
        "status_sort": IndexAction.CONFLICT,
        "email_unique": IndexAction.UNCHANGED,
        "nickname_1": IndexAction.CREATE,
        "stray_1": IndexAction.EXTRA,
    }


async def test_conflict_raises_and_leaves_the_existing_index_untouched(
    engine: MongoDBEngine, command_log: CommandLog, mongo_client: RawClient, mongodb_database: str
) -> None:
    original = {"tasks": [{"keys": {"email": 1}, "name": "email_unique", "unique": True}]}
    await engine.register_app(manifest(managed_indexes=original))
    command_log.clear()
    changed = {
        "tasks": [
            {"keys": {"email": 1}, "name": "email_unique"},
            {"keys": {"other": 1}},  # missing, but nothing is created while a conflict stands
        ]
    }
    with pytest.raises(IndexConflict) as raised:
        await engine.register_app(manifest(managed_indexes=changed))
    assert command_log.named(*INDEX_COMMANDS) == []
    message = str(raised.value)
    assert "index 'email_unique' on collection 'tasks' (differs in unique)" in message
    assert "declared: {'name': 'email_unique', 'key': {'email': 1}}" in message
    assert "'unique': True" in message.split("existing:")[1]
    assert 'on_conflict="recreate"' in message
    [conflict] = raised.value.conflicts
    assert conflict.differences == ("unique",)
    tasks = await listed(mongo_client, mongodb_database, "idx_app_tasks")
    assert tasks["email_unique"]["unique"] is True
    assert "other_1" not in tasks


async def test_recreate_rebuilds_a_conflicting_index_and_warns_for_unique(
    engine: MongoDBEngine,
    command_log: CommandLog,
    mongo_client: RawClient,
    mongodb_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    original = {"tasks": [{"keys": {"email": 1}, "name": "email_unique", "unique": True}]}
    await engine.register_app(manifest(managed_indexes=original, collection_settings={}))
    changed = {"tasks": [{"keys": {"email": 1}, "name": "email_unique"}]}
    await engine.register_app(
        manifest(managed_indexes=changed, collection_settings={}), create_indexes=False
    )
    command_log.clear()
    with caplog.at_level(logging.WARNING, logger="mdb_engine"):
        result = await engine.sync_indexes("idx_app", on_conflict="recreate")
    assert command_log.names() == ["listCollections", "listIndexes", "dropIndexes", "createIndexes"]
    assert [change.name for change in result.recreated] == ["email_unique"]
    assert result.changed_anything
    assert any("dropping UNIQUE index 'email_unique'" in r.getMessage() for r in caplog.records)
    tasks = await listed(mongo_client, mongodb_database, "idx_app_tasks")
    assert "unique" not in tasks["email_unique"]


async def test_ttl_change_goes_through_collmod(
    engine: MongoDBEngine, command_log: CommandLog, mongo_client: RawClient, mongodb_database: str
) -> None:
    ttl = {"type": "ttl", "keys": {"expires_at": 1}, "expireAfterSeconds": 3600}
    await engine.register_app(manifest(managed_indexes={"tasks": [ttl, {"keys": {"a": 1}}]}))
    command_log.clear()
    await engine.register_app(
        manifest(managed_indexes={"tasks": [{**ttl, "expireAfterSeconds": 60}, {"keys": {"a": 1}}]})
    )
    [collmod] = command_log.named(*INDEX_COMMANDS)
    assert collmod.name == "collMod"
    assert collmod.command["index"] == {"name": "expires_at_1", "expireAfterSeconds": 60}
    tasks = await listed(mongo_client, mongodb_database, "idx_app_tasks")
    assert tasks["expires_at_1"]["expireAfterSeconds"] == 60


async def test_hidden_change_goes_through_collmod(
    engine: MongoDBEngine, command_log: CommandLog, mongo_client: RawClient, mongodb_database: str
) -> None:
    await engine.register_app(
        manifest(managed_indexes={"tasks": [{"keys": {"a": 1}, "hidden": True}]})
    )
    command_log.clear()
    result = await engine.register_app(manifest(managed_indexes={"tasks": [{"keys": {"a": 1}}]}))
    assert result.slug == "idx_app"
    [collmod] = command_log.named(*INDEX_COMMANDS)
    assert collmod.command["index"] == {"name": "a_1", "hidden": False}
    assert "hidden" not in (await listed(mongo_client, mongodb_database, "idx_app_tasks"))["a_1"]


async def test_extras_are_kept_unless_pruned(
    engine: MongoDBEngine,
    command_log: CommandLog,
    mongo_client: RawClient,
    mongodb_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await engine.register_app(manifest(managed_indexes={"tasks": [{"keys": {"a": 1}}]}))
    raw = mongo_client[mongodb_database]
    await raw["idx_app_tasks"].create_index("stray", unique=True)
    await raw["idx_app_logs"].create_index("level")
    await raw["other_app_tasks"].create_index("not_ours")
    command_log.clear()
    kept = await engine.sync_indexes("idx_app")
    assert command_log.named(*INDEX_COMMANDS) == []
    assert sorted((c.collection, c.name) for c in kept.plan.extra) == [
        ("logs", "level_1"),
        ("tasks", "stray_1"),
    ]
    with caplog.at_level(logging.WARNING, logger="mdb_engine"):
        pruned = await engine.sync_indexes("idx_app", prune=True)
    assert sorted(c.name for c in pruned.dropped) == ["level_1", "stray_1"]
    assert any("dropping UNIQUE index 'stray_1'" in r.getMessage() for r in caplog.records)
    assert set(await listed(mongo_client, mongodb_database, "idx_app_tasks")) == {"_id_", "a_1"}
    assert "not_ours_1" in await listed(mongo_client, mongodb_database, "other_app_tasks")


class _Timeline(monitoring.CommandListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.events.append(("started", event.command_name))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.events.append(("succeeded", event.command_name))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.events.append(("failed", event.command_name))


async def test_collections_are_indexed_concurrently(
    mongodb_uri: str, mongodb_database: str
) -> None:
    timeline = _Timeline()
    async with MongoDBEngine(mongodb_uri, mongodb_database, event_listeners=[timeline]) as engine:
        await engine.register_app(manifest())
    creates = [event for event in timeline.events if event[1] == "createIndexes"]
    # Every createIndexes was sent before the first one finished.
    assert creates[:4] == [("started", "createIndexes")] * 4


async def test_sync_and_plan_need_a_registered_app_or_a_manifest(engine: MongoDBEngine) -> None:
    with pytest.raises(AppNotRegistered):
        await engine.plan_indexes("nobody")
    with pytest.raises(AppNotRegistered):
        await engine.sync_indexes("nobody")
    await engine.register_app(manifest(managed_indexes={}))
    with pytest.raises(ConfigurationError, match="on_conflict must be 'error' or 'recreate'"):
        await engine.sync_indexes("idx_app", on_conflict="replace")  # type: ignore[arg-type]


async def test_server_refusal_is_an_index_management_error(
    engine: MongoDBEngine, mongo_client: RawClient, mongodb_database: str
) -> None:
    raw = mongo_client[mongodb_database]["idx_app_tasks"]
    await raw.insert_many([{"email": "a@x", "app_id": "idx_app"} for _ in range(2)])
    with pytest.raises(IndexManagementError, match="collection 'tasks': creating indexes"):
        await engine.register_app(
            manifest(managed_indexes={"tasks": [{"keys": {"email": 1}, "unique": True}]})
        )
