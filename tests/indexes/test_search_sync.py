"""Atlas Search and Vector Search indexes on a server that has them (the local stand-in)."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from search_standin import SearchStandIn

from mdb_engine import MongoDBEngine
from mdb_engine.errors import IndexConflict
from mdb_engine.indexes import IndexAction
from mdb_engine.testing import CommandLog

VECTOR = {"fields": [{"type": "vector", "path": "e", "numDimensions": 3, "similarity": "cosine"}]}
SEARCH = {"mappings": {"dynamic": True}}
SEARCH_COMMANDS = ("createSearchIndexes", "updateSearchIndex", "dropSearchIndex")


def manifest(indexes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema_version": "2.0",
        "slug": "rag",
        "name": "RAG",
        "managed_indexes": {"chunks": copy.deepcopy(indexes), "notes": [{"keys": {"at": -1}}]},
    }


DECLARED = [
    {"type": "vectorSearch", "name": "vec", "definition": VECTOR},
    {"type": "search", "definition": SEARCH},
]


async def test_search_indexes_are_created_with_the_app_id_filter(
    search_standin: SearchStandIn, mongodb_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    log = CommandLog()
    with caplog.at_level(logging.WARNING, logger="mdb_engine"):
        async with MongoDBEngine(
            search_standin.uri, mongodb_database, event_listeners=[log]
        ) as engine:
            await engine.register_app(manifest(DECLARED))
    assert not [r for r in caplog.records if "search indexes" in r.getMessage()]
    [create] = log.named("createSearchIndexes")
    assert create.collection == "rag_chunks"
    stored = {
        index["name"]: index for index in search_standin.indexes(f"{mongodb_database}.rag_chunks")
    }
    assert stored["vec"]["type"] == "vectorSearch"
    assert stored["vec"]["latestDefinition"]["fields"] == [
        *VECTOR["fields"],
        {"type": "filter", "path": "app_id"},
    ]
    assert stored["default"]["type"] == "search"
    assert stored["default"]["latestDefinition"] == SEARCH


async def test_unchanged_restart_sends_no_search_index_command(
    search_standin: SearchStandIn, mongodb_database: str
) -> None:
    async with MongoDBEngine(search_standin.uri, mongodb_database) as engine:
        await engine.register_app(manifest(DECLARED))
    log = CommandLog()
    async with MongoDBEngine(search_standin.uri, mongodb_database, event_listeners=[log]) as engine:
        await engine.register_app(manifest(DECLARED))
        plan = await engine.plan_indexes("rag")
    assert log.named(*SEARCH_COMMANDS, "createIndexes", "collMod", "dropIndexes") == []
    assert {(c.name, c.kind, c.action) for c in plan.changes} == {
        ("vec", "vectorSearch", IndexAction.UNCHANGED),
        ("default", "search", IndexAction.UNCHANGED),
        ("at_-1", "index", IndexAction.UNCHANGED),
    }


async def test_changed_definition_is_updated_and_a_changed_type_conflicts(
    search_standin: SearchStandIn, mongodb_database: str
) -> None:
    log = CommandLog()
    async with MongoDBEngine(search_standin.uri, mongodb_database, event_listeners=[log]) as engine:
        await engine.register_app(manifest(DECLARED))
        log.clear()
        updated = copy.deepcopy(DECLARED)
        updated[1]["definition"] = {
            "mappings": {"dynamic": False, "fields": {"t": {"type": "string"}}}
        }
        await engine.register_app(manifest(updated))
        assert [record.name for record in log.named(*SEARCH_COMMANDS)] == ["updateSearchIndex"]
        stored = {i["name"]: i for i in search_standin.indexes(f"{mongodb_database}.rag_chunks")}
        assert stored["default"]["latestDefinition"]["mappings"]["dynamic"] is False

        retyped = copy.deepcopy(updated)
        retyped[0] = {"type": "search", "name": "vec", "definition": SEARCH}
        log.clear()
        with pytest.raises(IndexConflict, match="index 'vec' on collection 'chunks'"):
            await engine.register_app(manifest(retyped))
        assert log.named(*SEARCH_COMMANDS) == []
        result = await engine.sync_indexes("rag", on_conflict="recreate")
        assert [c.name for c in result.recreated] == ["vec"]
        assert [record.name for record in log.named(*SEARCH_COMMANDS)] == [
            "dropSearchIndex",
            "createSearchIndexes",
        ]


async def test_undeclared_search_indexes_are_extras_until_pruned(
    search_standin: SearchStandIn, mongodb_database: str
) -> None:
    async with MongoDBEngine(search_standin.uri, mongodb_database) as engine:
        await engine.register_app(manifest(DECLARED))
        await engine.register_app(manifest(DECLARED[:1]))
        plan = await engine.plan_indexes("rag")
        assert [(c.name, c.action) for c in plan.extra] == [("default", IndexAction.EXTRA)]
        result = await engine.sync_indexes("rag", prune=True)
    assert [c.name for c in result.dropped] == ["default"]
    names = [i["name"] for i in search_standin.indexes(f"{mongodb_database}.rag_chunks")]
    assert names == ["vec"]
