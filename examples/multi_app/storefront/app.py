"""Storefront: lists the inventory's products and takes orders (served under /apps/storefront).

Products are read through a read-only view of the inventory app; orders go to this app's own
``orders`` collection. Whatever the engine refuses (a write through the view, a collection the
inventory does not share, a withdrawn consent) is answered 403 with the engine's reason.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mdb_engine import ScopedDatabase, ScopeViolation
from mdb_engine.host import get_app_db

from .catalog import InventoryView, find_product, list_products, read_collection

logger = logging.getLogger(__name__)

app = FastAPI(title="Storefront")
AppDb = Annotated[ScopedDatabase, Depends(get_app_db)]


class NewOrder(BaseModel):
    """An order for ``quantity`` units of one product."""

    sku: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1, le=100)


class StockChange(BaseModel):
    """A new stock level (which the storefront is not allowed to set)."""

    stock: int = Field(ge=0, le=1_000_000)


@app.exception_handler(ScopeViolation)
async def refused(request: Request, exc: ScopeViolation) -> JSONResponse:
    """The engine refused an operation: 403 with its reason, nothing was sent to MongoDB."""
    logger.warning("refused %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": str(exc)}, status_code=403)


@app.get("/")
async def home() -> dict[str, Any]:
    return {"app": "storefront", "products": "products", "orders": "orders"}


@app.get("/products")
async def products(view: InventoryView) -> list[dict[str, Any]]:
    """The inventory's products, read through the view."""
    return await list_products(view)


@app.post("/orders", status_code=201)
async def place_order(order: NewOrder, view: InventoryView, db: AppDb) -> dict[str, Any]:
    """Check the product and its stock through the view, then store the order in this app's
    own ``orders`` collection (the inventory's data is not touched)."""
    product = await find_product(view, order.sku)
    if product is None:
        raise HTTPException(404, f"no product with SKU {order.sku!r}")
    if product["stock"] < order.quantity:
        raise HTTPException(409, f"only {product['stock']} of {order.sku!r} in stock")
    placed = {
        "sku": order.sku,
        "name": product["name"],
        "quantity": order.quantity,
        "unit_price_cents": product["price_cents"],
        "total_cents": product["price_cents"] * order.quantity,
    }
    result = await db.orders.insert_one({**placed, "created_at": datetime.now(timezone.utc)})
    return {"id": str(result.inserted_id), **placed}


@app.get("/orders")
async def orders(db: AppDb) -> list[dict[str, Any]]:
    """This app's orders, newest first."""
    cursor = db.orders.find().sort("created_at", -1).limit(100)
    return [
        {
            "id": str(order["_id"]),
            "sku": order["sku"],
            "quantity": order["quantity"],
            "total_cents": order["total_cents"],
        }
        async for order in cursor
    ]


@app.patch("/products/{sku}/stock")
async def change_stock(sku: str, change: StockChange, view: InventoryView) -> dict[str, Any]:
    """Try to set the inventory's stock through the view: every write through a view is
    refused (403 ``ScopeViolation``), so only the inventory app can change its stock."""
    result = await view.products.update_one({"sku": sku}, {"$set": {"stock": change.stock}})
    return {"modified": result.modified_count}


@app.get("/inventory/{collection}")
async def inventory_collection(collection: str, view: InventoryView) -> list[dict[str, Any]]:
    """Any collection of the inventory, as stored: answered for ``products``, refused (403) for
    a collection the inventory does not list in ``shared_collections``, such as ``suppliers``."""
    return await read_collection(view, collection)
