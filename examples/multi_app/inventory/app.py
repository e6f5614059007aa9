"""Inventory: products with their stock, and private suppliers (served under /apps/inventory).

The manifest lets the storefront read ``products`` (read-only); ``suppliers`` stays private.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from mdb_engine import ScopedDatabase
from mdb_engine.host import get_app_db

from .models import NewProduct, NewSupplier, ProductChange, product_out, supplier_out

router = APIRouter()
AppDb = Annotated[ScopedDatabase, Depends(get_app_db)]


@router.get("/")
async def home() -> dict[str, Any]:
    return {"app": "inventory", "products": "products", "suppliers": "suppliers"}


@router.post("/products", status_code=201)
async def add_product(product: NewProduct, db: AppDb) -> dict[str, Any]:
    """Add a product; its SKU must be new (unique index ``sku_unique``)."""
    try:
        await db.products.insert_one(product.model_dump())
    except DuplicateKeyError:
        raise HTTPException(409, f"a product with SKU {product.sku!r} exists") from None
    return product.model_dump()


@router.get("/products")
async def list_products(db: AppDb) -> list[dict[str, Any]]:
    """Every product, by SKU."""
    cursor = db.products.find().sort("sku", 1).limit(1000)
    return [product_out(product) async for product in cursor]


@router.get("/products/{sku}")
async def get_product(sku: str, db: AppDb) -> dict[str, Any]:
    product = await db.products.find_one({"sku": sku})
    if product is None:
        raise HTTPException(404, f"no product with SKU {sku!r}")
    return product_out(product)


@router.patch("/products/{sku}")
async def change_product(sku: str, change: ProductChange, db: AppDb) -> dict[str, Any]:
    """Change a product's name, price or stock (only the inventory can)."""
    product = await db.products.find_one_and_update(
        {"sku": sku}, {"$set": change.changes()}, return_document=ReturnDocument.AFTER
    )
    if product is None:
        raise HTTPException(404, f"no product with SKU {sku!r}")
    return product_out(product)


@router.delete("/products/{sku}", status_code=204)
async def delete_product(sku: str, db: AppDb) -> Response:
    result = await db.products.delete_one({"sku": sku})
    if result.deleted_count == 0:
        raise HTTPException(404, f"no product with SKU {sku!r}")
    return Response(status_code=204)


@router.post("/suppliers", status_code=201)
async def add_supplier(supplier: NewSupplier, db: AppDb) -> dict[str, Any]:
    document = supplier.model_dump()
    await db.suppliers.insert_one(document)
    return supplier_out(document)


@router.get("/suppliers")
async def list_suppliers(db: AppDb) -> list[dict[str, Any]]:
    cursor = db.suppliers.find().sort("name", 1).limit(1000)
    return [supplier_out(supplier) async for supplier in cursor]
