"""Cross-app read-only views: allowed only when both manifests agree; writes are refused."""

from __future__ import annotations

from typing import Any

import pytest

from mdb_engine import MongoDBEngine, ScopeViolation
from mdb_engine.database import ReadOnlyCollection, ReadOnlyDatabase
from mdb_engine.testing import CommandLog


def manifest(slug: str, **data_access: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"schema_version": "2.0", "slug": slug, "name": slug}
    if data_access:
        document["data_access"] = data_access
    return document


@pytest.fixture
async def garden(engine: MongoDBEngine) -> MongoDBEngine:
    await engine.register_app(manifest("reports", read_scopes=["crm"]))
    await engine.register_app(
        manifest("crm", allow_read_by=["reports"], shared_collections=["contacts"])
    )
    await engine.register_app(manifest("other", read_scopes=["crm"]))
    crm = engine.get_scoped_db("crm")
    await crm.contacts.insert_many([{"_id": i, "name": f"c{i}"} for i in range(3)])
    await crm.secrets.insert_one({"_id": 1, "pin": 1234})
    await engine.get_scoped_db("reports").contacts.insert_one({"_id": 9, "name": "mine"})
    return engine


async def test_view_reads_the_owners_documents(
    garden: MongoDBEngine, command_log: CommandLog
) -> None:
    view = garden.get_scoped_db("reports").read_scope("crm")
    assert isinstance(view, ReadOnlyDatabase)
    assert view.app_id == "crm"
    contacts = view.contacts
    assert isinstance(contacts, ReadOnlyCollection)
    assert contacts.name == "contacts"
    command_log.clear()
    assert [d["name"] async for d in contacts.find().sort("_id")] == ["c0", "c1", "c2"]
    assert (await contacts.find_one({"_id": 1}))["name"] == "c1"  # type: ignore[index]
    assert await contacts.count_documents({}) == 3
    assert await contacts.estimated_document_count() == 3
    assert await contacts.distinct("app_id") == ["crm"]
    cursor = await contacts.aggregate([{"$group": {"_id": None, "n": {"$sum": 1}}}])
    assert await cursor.to_list() == [{"_id": None, "n": 3}]
    assert {record.collection for record in command_log.commands} == {"crm_contacts"}


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("insert_one", ({"x": 1},)),
        ("insert_many", ([{"x": 1}],)),
        ("update_one", ({}, {"$set": {"x": 1}})),
        ("update_many", ({}, {"$set": {"x": 1}})),
        ("replace_one", ({}, {"x": 1})),
        ("delete_one", ({},)),
        ("delete_many", ({},)),
        ("find_one_and_update", ({}, {"$set": {"x": 1}})),
        ("find_one_and_replace", ({}, {"x": 1})),
        ("find_one_and_delete", ({},)),
        ("bulk_write", ([],)),
        ("create_index", ("x",)),
        ("drop_index", ("x_1",)),
        ("drop_indexes", ()),
        ("drop", ()),
        ("rename", ("y",)),
    ],
)
async def test_every_write_through_a_view_is_refused(
    garden: MongoDBEngine, command_log: CommandLog, method: str, args: tuple[Any, ...]
) -> None:
    contacts = garden.get_scoped_db("reports").read_scope("crm").contacts
    command_log.clear()
    with pytest.raises(ScopeViolation, match="read-only view of app 'crm'"):
        await getattr(contacts, method)(*args)
    assert command_log.commands == []
    assert await garden.get_scoped_db("crm").contacts.count_documents({}) == 3


async def test_view_pipelines_may_not_write_or_reach_unshared_collections(
    garden: MongoDBEngine, command_log: CommandLog
) -> None:
    contacts = garden.get_scoped_db("reports").read_scope("crm").contacts
    command_log.clear()
    for pipeline in (
        [{"$out": "contacts_copy"}],
        [{"$merge": {"into": "contacts"}}],
        [{"$lookup": {"from": "secrets", "pipeline": [], "as": "s"}}],
        [{"$unionWith": "secrets"}],
        [{"$facet": {"x": [{"$unionWith": {"coll": "secrets"}}]}}],
    ):
        with pytest.raises(ScopeViolation):
            await contacts.aggregate(pipeline)
    assert command_log.commands == []
    view = garden.get_scoped_db("reports").read_scope("crm")
    with pytest.raises(ScopeViolation, match="does not share collection 'secrets'"):
        view.secrets  # noqa: B018
    with pytest.raises(ScopeViolation, match="read-only"):
        view.drop_collection  # noqa: B018
    with pytest.raises(AttributeError):
        view._database  # noqa: B018


async def test_views_need_consent_from_both_sides(garden: MongoDBEngine) -> None:
    with pytest.raises(ScopeViolation, match=r"data_access\.read_scopes"):
        garden.get_scoped_db("crm").read_scope("reports")
    with pytest.raises(ScopeViolation, match="allow_read_by"):
        garden.get_scoped_db("other").read_scope("crm")
    with pytest.raises(ScopeViolation, match="not an active registered app"):
        garden.get_scoped_db("reports").read_scope("ghost")
    with pytest.raises(ScopeViolation, match="its own data"):
        garden.get_scoped_db("reports").read_scope("reports")


async def test_withdrawn_consent_takes_effect_at_once(garden: MongoDBEngine) -> None:
    contacts = garden.get_scoped_db("reports").read_scope("crm").contacts
    assert await contacts.count_documents({}) == 3
    await garden.register_app(manifest("crm"))
    with pytest.raises(ScopeViolation, match="allow_read_by"):
        await contacts.count_documents({})
    with pytest.raises(ScopeViolation):
        contacts.find()
