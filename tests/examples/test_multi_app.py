"""examples/multi_app: the storefront reads the inventory's products through a consented,
read-only view; writes through it, unshared collections and withdrawn consent are refused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient, MongoClient

from mdb_engine import MongoDBEngine, ScopeViolation
from mdb_engine.testing import CommandLog, CommandRecord
from tests.examples.conftest import EXAMPLES
from tests.host.conftest import Host

MULTI_APP = EXAMPLES / "multi_app"
APPS = ("inventory", "storefront")
TEA = {"sku": "TEA-01", "name": "Green tea", "price_cents": 450, "stock": 12}
MUG = {"sku": "MUG-02", "name": "Blue mug", "price_cents": 1200, "stock": 3}
SUPPLIER = {"name": "Leaf & Co", "contact": "orders@leaf.example", "cost_cents": {"TEA-01": 210}}

READ_ONLY = "update_one is refused: this is a read-only view of app 'inventory'"
NOT_SHARED = (
    "app 'inventory' does not share collection 'suppliers' "
    "(data_access.shared_collections: products)"
)
NOT_ALLOWED = (
    "app 'inventory' does not allow reads by 'storefront': its manifest must list "
    "'storefront' in data_access.allow_read_by"
)


def app_ids(value: Any) -> set[str]:
    """Every value of an ``app_id`` key anywhere in a command (filters, documents, stages)."""
    if isinstance(value, Mapping):
        found = {item for key, item in value.items() if key == "app_id"}
        return found.union(*(app_ids(item) for item in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(app_ids(item) for item in value))
    return set()


def owner_of(record: CommandRecord) -> str | None:
    """The app whose physical collection (``<app>_<name>``) the command names, if any."""
    collection = record.collection or ""
    return next((app for app in APPS if collection.startswith(f"{app}_")), None)


def app_commands(log: CommandLog) -> list[CommandRecord]:
    """The recorded commands on the two apps' collections (not the engine's own)."""
    return [record for record in log.commands if owner_of(record) is not None]


def assert_every_command_scoped(log: CommandLog) -> None:
    """Each command on ``<app>_<name>`` constrains or tags ``app_id`` to exactly ``<app>``."""
    for record in app_commands(log):
        assert app_ids(record.command) == {owner_of(record)}, record


@pytest.fixture
async def observed(
    host: Host, mongodb_uri: str, mongodb_database: str, command_log: CommandLog
) -> Any:
    """``await observed(folder)``: the host serving ``folder`` on an engine that records every
    command in ``command_log``; returns the engine and an HTTP client."""

    async def start(folder: Path) -> tuple[MongoDBEngine, httpx.AsyncClient]:
        engine = MongoDBEngine(mongodb_uri, mongodb_database, event_listeners=[command_log])
        _, client = await host(folder, engine=engine)
        return engine, client

    return start


def test_serve_runs_both_apps_and_the_view_only_reads(
    serve: Any, mongodb_uri: str, mongodb_database: str
) -> None:
    base = serve(MULTI_APP, "--mongo-uri", mongodb_uri, "--db", mongodb_database)
    raw: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    database = raw[mongodb_database]
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            served = {(a["slug"], a["status"]) for a in http.get("/apps").json()["apps"]}
            assert served == {("inventory", "active"), ("storefront", "active")}

            # The inventory manages its own data.
            for product in (TEA, MUG):
                created = http.post("/apps/inventory/products", json=product)
                assert (created.status_code, created.json()) == (201, product)
            assert http.post("/apps/inventory/products", json=TEA).status_code == 409
            assert http.post("/apps/inventory/suppliers", json=SUPPLIER).status_code == 201
            # A stray document in the inventory's physical collection, not the inventory's own.
            database["inventory_products"].insert_one(
                {"sku": "STRAY", "name": "x", "price_cents": 1, "stock": 9, "app_id": "storefront"}
            )

            # The storefront reads exactly the inventory's products through the view.
            listed = http.get("/apps/storefront/products")
            assert (listed.status_code, listed.json()) == (200, [MUG, TEA])
            stored = http.get("/apps/storefront/inventory/products").json()
            assert sorted(doc["sku"] for doc in stored) == ["MUG-02", "TEA-01"]
            assert {doc["app_id"] for doc in stored} == {"inventory"}

            # An order lands in the storefront's own collection, tagged with its app_id.
            order = http.post("/apps/storefront/orders", json={"sku": "TEA-01", "quantity": 2})
            assert order.status_code == 201
            placed = order.json()
            assert placed["total_cents"] == 900
            documents = list(database["storefront_orders"].find())
            assert [
                (d["app_id"], d["sku"], d["quantity"], d["total_cents"]) for d in documents
            ] == [("storefront", "TEA-01", 2, 900)]
            assert str(documents[0]["_id"]) == placed["id"]
            assert http.get("/apps/storefront/orders").json() == [
                {"id": placed["id"], "sku": "TEA-01", "quantity": 2, "total_cents": 900}
            ]
            refused_orders = [
                ({"sku": "MUG-02", "quantity": 4}, 409, "only 3 of 'MUG-02' in stock"),
                ({"sku": "NOPE", "quantity": 1}, 404, "no product with SKU 'NOPE'"),
            ]
            for body, status, detail in refused_orders:
                response = http.post("/apps/storefront/orders", json=body)
                assert (response.status_code, response.json()["detail"]) == (status, detail)
            assert http.post("/apps/storefront/orders", json={"sku": "TEA-01"}).status_code == 422
            assert database["storefront_orders"].count_documents({}) == 1

            # Changing the inventory's stock through the view is refused; nothing changes.
            before = list(database["inventory_products"].find().sort("sku", 1))
            attempt = http.patch("/apps/storefront/products/TEA-01/stock", json={"stock": 0})
            assert (attempt.status_code, attempt.json()) == (403, {"detail": READ_ONLY})
            assert list(database["inventory_products"].find().sort("sku", 1)) == before
            assert http.get("/apps/inventory/products/TEA-01").json()["stock"] == 12

            # The inventory shares products only: its suppliers are refused to the storefront.
            hidden = http.get("/apps/storefront/inventory/suppliers")
            assert (hidden.status_code, hidden.json()) == (403, {"detail": NOT_SHARED})
            assert [s["name"] for s in http.get("/apps/inventory/suppliers").json()] == [
                "Leaf & Co"
            ]

            # The owner changes its stock; the storefront sees it on its next read.
            assert (
                http.patch("/apps/inventory/products/MUG-02", json={"stock": 0}).status_code == 200
            )
            response = http.post("/apps/storefront/orders", json={"sku": "MUG-02", "quantity": 1})
            assert (response.status_code, response.json()["detail"]) == (
                409,
                "only 0 of 'MUG-02' in stock",
            )
        assert sorted(n for n in database.list_collection_names() if not n.startswith("_")) == [
            "inventory_products",
            "inventory_suppliers",
            "storefront_orders",
        ]
    finally:
        raw.close()


async def test_every_command_carries_the_scope_of_the_collection_owner(
    observed: Any, command_log: CommandLog
) -> None:
    _, client = await observed(MULTI_APP)
    command_log.clear()
    for product in (TEA, MUG):
        assert (await client.post("/apps/inventory/products", json=product)).status_code == 201
    assert [(r.name, r.collection) for r in app_commands(command_log)] == [
        ("insert", "inventory_products"),
        ("insert", "inventory_products"),
    ]
    assert_every_command_scoped(command_log)

    command_log.clear()
    assert (await client.get("/apps/storefront/products")).json() == [MUG, TEA]
    reads = [(r.name, r.collection, r.command["filter"]) for r in app_commands(command_log)]
    assert reads == [("find", "inventory_products", {"app_id": "inventory"})]

    command_log.clear()
    order = await client.post("/apps/storefront/orders", json={"sku": "TEA-01", "quantity": 1})
    assert order.status_code == 201
    sent = app_commands(command_log)
    assert [(r.name, r.collection) for r in sent] == [
        ("find", "inventory_products"),
        ("insert", "storefront_orders"),
    ]
    assert sent[0].command["filter"] == {"$and": [{"sku": "TEA-01"}, {"app_id": "inventory"}]}
    assert sent[1].command["documents"][0]["app_id"] == "storefront"
    assert_every_command_scoped(command_log)

    # The owner's own updates and deletes are scoped to it as well.
    command_log.clear()
    changed = await client.patch("/apps/inventory/products/MUG-02", json={"stock": 1})
    assert changed.json() == {**MUG, "stock": 1}
    assert (await client.delete("/apps/inventory/products/MUG-02")).status_code == 204
    assert [r.name for r in app_commands(command_log)] == ["findAndModify", "delete"]
    assert_every_command_scoped(command_log)

    # What the engine refuses is refused before anything reaches the server.
    command_log.clear()
    attempt = await client.patch("/apps/storefront/products/TEA-01/stock", json={"stock": 0})
    hidden = await client.get("/apps/storefront/inventory/suppliers")
    assert [attempt.status_code, hidden.status_code] == [403, 403]
    assert command_log.commands == []


async def test_without_the_owners_consent_the_read_is_refused(
    observed: Any,
    command_log: CommandLog,
    mongo_client: AsyncMongoClient[dict[str, Any]],
    mongodb_database: str,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "multi_app"
    shutil.copytree(MULTI_APP, folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest_path = folder / "inventory" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["data_access"]["allow_read_by"] = []
    manifest_path.write_text(json.dumps(manifest))
    _, client = await observed(folder)
    assert (await client.post("/apps/inventory/products", json=TEA)).status_code == 201

    command_log.clear()
    listed = await client.get("/apps/storefront/products")
    assert (listed.status_code, listed.json()) == (403, {"detail": NOT_ALLOWED})
    order = await client.post("/apps/storefront/orders", json={"sku": "TEA-01", "quantity": 1})
    assert (order.status_code, order.json()) == (403, {"detail": NOT_ALLOWED})
    assert command_log.commands == []  # refused before anything was sent
    database = mongo_client[mongodb_database]
    assert await database["storefront_orders"].count_documents({}) == 0
    assert (await client.get("/apps/inventory/products")).json() == [TEA]


async def test_consent_is_checked_on_every_call(observed: Any) -> None:
    engine, client = await observed(MULTI_APP)
    assert (await client.post("/apps/inventory/products", json=TEA)).status_code == 201
    assert (await client.get("/apps/storefront/products")).json() == [TEA]
    manifest = json.loads((MULTI_APP / "inventory" / "manifest.json").read_text())

    withdrawn = {**manifest, "data_access": {**manifest["data_access"], "allow_read_by": []}}
    await engine.register_app(withdrawn)
    listed = await client.get("/apps/storefront/products")
    assert (listed.status_code, listed.json()) == (403, {"detail": NOT_ALLOWED})

    await engine.register_app(manifest)
    assert (await client.get("/apps/storefront/products")).json() == [TEA]


async def test_the_view_refuses_writes_and_unshared_collections_in_any_form(observed: Any) -> None:
    engine, client = await observed(MULTI_APP)
    assert (await client.post("/apps/inventory/products", json=TEA)).status_code == 201
    view = engine.get_scoped_db("storefront").read_scope("inventory")
    with pytest.raises(ScopeViolation, match="insert_one is refused"):
        await view.products.insert_one({"sku": "NEW"})
    with pytest.raises(ScopeViolation, match="delete_many is refused"):
        await view.products.delete_many({})
    with pytest.raises(ScopeViolation, match=r"\$out or \$merge is refused"):
        await view.products.aggregate([{"$out": "products"}])
    lookup = {"$lookup": {"from": "suppliers", "pipeline": [], "as": "suppliers"}}
    with pytest.raises(ScopeViolation, match="does not share collection 'suppliers'"):
        await view.products.aggregate([lookup])
    # The other direction was never asked for nor granted.
    with pytest.raises(ScopeViolation, match=r"add 'storefront' to data_access\.read_scopes"):
        engine.get_scoped_db("inventory").read_scope("storefront")
    assert await view.products.count_documents({}) == 1
