"""The rules of ``ScopedDatabase.command`` (pure) and the command on a real server."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import OperationFailure, WriteError

from mdb_engine import MongoDBEngine, ScopeViolation
from mdb_engine.database.commands import rewrite_command
from mdb_engine.testing import CommandLog

Raw = Any

CLOSED_SCHEMA = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["name"],
        "properties": {"_id": {}, "name": {"bsonType": "string"}},
        "additionalProperties": False,
    }
}


def test_coll_mod_goes_to_the_physical_collection() -> None:
    sent = rewrite_command("collMod", "people", {"validationAction": "warn"}, "shop")
    assert sent == {"collMod": "shop_people", "validationAction": "warn"}
    assert list(sent) == ["collMod", "validationAction"]  # the command name stays first


def test_the_document_form_and_keyword_arguments_combine() -> None:
    sent = rewrite_command(
        {"collMod": "people", "validationLevel": "moderate"}, 1, {"comment": "why"}, "shop"
    )
    assert sent == {"collMod": "shop_people", "validationLevel": "moderate", "comment": "why"}


def test_a_closed_json_schema_gets_app_id_allowed() -> None:
    sent = rewrite_command("collMod", "people", {"validator": CLOSED_SCHEMA}, "shop")
    properties = sent["validator"]["$jsonSchema"]["properties"]
    assert properties["app_id"] == {"bsonType": "string"}
    assert CLOSED_SCHEMA["$jsonSchema"]["properties"] == {"_id": {}, "name": {"bsonType": "string"}}


@pytest.mark.parametrize(
    ("command", "value", "fields", "message"),
    [
        ("drop", "people", {}, "'drop' is not available"),
        ("dbHash", 1, {}, "allowed: collMod"),
        ({"find": "people"}, 1, {}, "'find' is not available"),
        ({}, 1, {}, "non-empty command document"),
        (42, 1, {}, "non-empty command document"),
        ("collMod", 7, {}, "the name of one of the app's collections"),
        ("collMod", "people", {"viewOn": "other_x", "pipeline": []}, "refused: pipeline, viewOn"),
        ("collMod", "people", {"index": {"name": "x"}}, "refused: index"),
        ("collMod", "people", {"validator": []}, "validator must be a document"),
        ("collMod", "people", {"validator": {"$where": "true"}}, "$where is not allowed"),
        ("collMod", "system.views", {}, "system."),
        ("collMod", "_mdb_engine_apps", {}, "_mdb_engine"),
    ],
)
def test_everything_else_is_refused(
    command: Any, value: Any, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScopeViolation) as raised:
        rewrite_command(command, value, fields, "shop")
    assert message in str(raised.value)


async def test_a_validator_applied_with_coll_mod_guards_inserts(
    engine: MongoDBEngine, mongo_client: Raw, mongodb_database: str, command_log: CommandLog
) -> None:
    await engine.register_app({"schema_version": "2.0", "slug": "shop", "name": "Shop"})
    other = await _app(engine, "other")
    db = engine.get_scoped_db("shop")
    await db.people.insert_one({"name": "Ann"})
    await other.people.insert_one({"name": 1})
    command_log.clear()

    answer = await db.command("collMod", "people", validator=CLOSED_SCHEMA)

    assert answer["ok"] == 1.0
    assert [(r.name, r.collection) for r in command_log.commands] == [("collMod", "shop_people")]
    infos = await (await mongo_client[mongodb_database].list_collections()).to_list()
    validators = {info["name"]: info["options"].get("validator") for info in infos}
    assert validators["shop_people"]["$jsonSchema"]["required"] == ["name"]
    assert validators.get("other_people") is None
    with pytest.raises(WriteError) as refused:
        await db.people.insert_one({"name": 5})
    assert refused.value.code == 121  # DocumentValidationFailure, as PyMongo raises it
    await db.people.insert_one({"name": "Bo"})  # app_id is allowed by the closed schema
    await other.people.insert_one({"name": 2})  # the other app's collection is untouched
    assert await db.people.count_documents({}) == 2


async def test_server_errors_pass_through(engine: MongoDBEngine) -> None:
    db = await _app(engine, "shop")
    with pytest.raises(OperationFailure) as missing:
        await db.command("collMod", "nothing_here", validationAction="warn")
    assert missing.value.code == 26  # NamespaceNotFound
    await db.create_collection("people")
    with pytest.raises(OperationFailure):
        await db.command("collMod", "people", validationAction="shout")


async def test_list_collections_shows_own_collections_under_logical_names(
    engine: MongoDBEngine,
) -> None:
    db = await _app(engine, "shop")
    other = await _app(engine, "other")
    await db.create_collection("people", validator=CLOSED_SCHEMA)
    await db.orders.insert_one({"total": 1})
    await other.secrets.insert_one({"x": 1})

    everything = await (await db.list_collections()).to_list()
    assert sorted(info["name"] for info in everything) == ["orders", "people"]
    cursor = await db.list_collections(filter={"name": "people"})
    [people] = [info async for info in cursor]
    assert people["name"] == "people"
    assert people["options"]["validator"]["$jsonSchema"]["required"] == ["name"]
    assert await (await db.list_collections(filter={"name": "secrets"})).to_list() == []
    with pytest.raises(ScopeViolation):
        await db.list_collections(filter={"$or": [{"name": "x"}]})
    with pytest.raises(ScopeViolation):
        await db.list_collections(nameOnly=True)


async def _app(engine: MongoDBEngine, slug: str) -> Any:
    await engine.register_app({"schema_version": "2.0", "slug": slug, "name": slug})
    return engine.get_scoped_db(slug)
