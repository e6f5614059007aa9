"""The console reads apps only through their sandbox, and templates see only plain data."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from mdb_engine import MongoDBEngine
from mdb_engine.database import ScopedCollection, ScopedDatabase
from mdb_engine.host.admin.rendering import Renderer, check_plain
from mdb_engine.testing import CommandLog, CommandRecord
from tests.database.wire import assert_commands_scoped
from tests.host.admin.conftest import Console, csrf_token_in, log_in, populate

SLUGS = ("shop", "blog")
FORBIDDEN = (MongoDBEngine, ScopedDatabase, ScopedCollection, AsyncCollection, AsyncDatabase)


async def _browse_everything(engine: MongoDBEngine, console: Console) -> None:
    client = await console(engine)
    await log_in(client)
    await client.get("/admin/")
    for slug in (*SLUGS, "later", "missing"):
        await client.get(f"/admin/apps/{slug}")
    page = await client.get("/admin/apps/shop")
    await client.post(
        "/admin/apps/shop/sync-indexes", data={"csrf_token": csrf_token_in(page.text)}
    )
    await client.get("/admin/apps/shop?synced=1")


def _target(record: CommandRecord) -> str | None:
    target = record.collection or record.command.get("collection")
    return target if isinstance(target, str) else None


def _owner(record: CommandRecord) -> str | None:
    """The app a command is about: its collection's slug, or its listCollections filter's."""
    target = _target(record)
    for slug in SLUGS:
        if target is not None and target.startswith(slug + "_"):
            return slug
        if record.name == "listCollections" and f"^{slug}_" in repr(record.command.get("filter")):
            return slug
    return None


async def test_every_command_the_console_sends_to_an_app_carries_its_app_id(
    engine: MongoDBEngine, console: Console, command_log: CommandLog, mongodb_database: str
) -> None:
    await populate(engine)
    command_log.clear()
    await _browse_everything(engine, console)

    by_app: dict[str, list[CommandRecord]] = {slug: [] for slug in SLUGS}
    unaccounted = []
    for record in command_log.commands:
        owner = _owner(record)
        if owner is not None:
            by_app[owner].append(record)
        elif record.database == "admin" or (_target(record) or "").startswith("_mdb_engine_"):
            continue  # the health check's hello/ping, and the engine's own collections
        else:
            unaccounted.append(record)
    assert unaccounted == []
    assert {record.name for record in by_app["shop"]} >= {
        "aggregate",  # counts
        "find",  # users
        "listCollections",
        "listIndexes",
        "createIndexes",  # the sync
    }
    assert {record.name for record in by_app["blog"]} >= {"aggregate", "listCollections"}
    for slug, records in by_app.items():
        assert_commands_scoped(records, slug, mongodb_database)


def _objects_in(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _objects_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _objects_in(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _objects_in(getattr(value, field.name))


async def test_templates_receive_only_plain_data(
    engine: MongoDBEngine, console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[tuple[str, dict[str, Any]]] = []
    original = Renderer.render

    def recording(self: Renderer, name: str, context: Mapping[str, object]) -> str:
        rendered.append((name, dict(context)))
        return original(self, name, context)

    monkeypatch.setattr(Renderer, "render", recording)
    await populate(engine)
    await _browse_everything(engine, console)

    assert {name for name, _ in rendered} == {"login.html", "apps.html", "app.html", "message.html"}
    for name, context in rendered:
        check_plain(context)
        for value in _objects_in(context):
            assert not isinstance(value, FORBIDDEN), f"{name} got a {type(value).__name__}"
            assert not isinstance(value, AsyncMongoClient), name
            assert type(value).__module__.split(".")[0] not in ("pymongo", "motor"), name


@dataclasses.dataclass(frozen=True)
class _Leaky:
    name: str
    collection: Any


async def test_check_plain_refuses_anything_that_reaches_the_database(
    engine: MongoDBEngine,
) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "shop", "name": "Shop"})
    db = engine.get_scoped_db("shop")
    leaks = [
        engine,
        db,
        db.products,
        db.products.find({}),
        {"rows": [{"nested": db}]},
        _Leaky("x", db.products),
        {1: "a key that is not a string"},
        object(),
        lambda: db,
    ]
    for leak in leaks:
        with pytest.raises(TypeError, match="not"):
            check_plain({"value": leak})
    check_plain({"ok": [1, 2.5, "s", None, True, ("t",), {"k": _Leaky("x", None)}]})
