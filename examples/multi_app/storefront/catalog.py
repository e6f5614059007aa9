"""The inventory's products as the storefront sees them: through a read-only view.

``db.read_scope("inventory")`` works only while both manifests agree (this app's
``data_access.read_scopes`` names ``inventory``, inventory's ``allow_read_by`` names this app,
and ``products`` is one of inventory's ``shared_collections``); otherwise it, or any read
through it, raises ``ScopeViolation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends

from mdb_engine import ScopedDatabase
from mdb_engine.database import ReadOnlyDatabase
from mdb_engine.host import get_app_db

OWNER = "inventory"
PRODUCT_FIELDS = ("sku", "name", "price_cents", "stock")


def inventory_view(db: Annotated[ScopedDatabase, Depends(get_app_db)]) -> ReadOnlyDatabase:
    """The inventory's collections, read-only (a dependency: refused consent becomes a 403)."""
    return db.read_scope(OWNER)


InventoryView = Annotated[ReadOnlyDatabase, Depends(inventory_view)]


def product_out(document: Mapping[str, Any]) -> dict[str, Any]:
    """A product of the inventory as the storefront shows it."""
    return {key: document[key] for key in PRODUCT_FIELDS}


async def list_products(view: ReadOnlyDatabase) -> list[dict[str, Any]]:
    """The inventory's products, by SKU."""
    cursor = view.products.find().sort("sku", 1).limit(1000)
    return [product_out(product) async for product in cursor]


async def find_product(view: ReadOnlyDatabase, sku: str) -> dict[str, Any] | None:
    """The inventory's product ``sku``, or ``None``."""
    product = await view.products.find_one({"sku": sku})
    return None if product is None else product_out(product)


async def read_collection(view: ReadOnlyDatabase, name: str) -> list[dict[str, Any]]:
    """Up to 100 documents of the inventory's collection ``name``, as stored (``_id`` as text);
    refused unless the inventory shares that collection."""
    cursor = view.get_collection(name).find().limit(100)
    return [{**document, "_id": str(document["_id"])} async for document in cursor]
