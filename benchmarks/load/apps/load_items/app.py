"""The engine side of ``benchmarks/load_http.py``: each app user's own items.

Served by ``mdb-engine serve benchmarks/load/apps --workers 2`` under ``/apps/load_items``.
Register and log in are the engine's auth routes (``/auth/register``, ``/auth/login``); the
items API is the same as ``benchmarks/load/plain_app.py``'s, line for line, except that the
database is ``get_app_db`` and the user is ``get_current_user``.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Annotated, Any

from bson import ObjectId
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from mdb_engine import ScopedDatabase
from mdb_engine.auth import get_current_user
from mdb_engine.host import get_app_db

router = APIRouter()
AppDb = Annotated[ScopedDatabase, Depends(get_app_db)]
User = Annotated[dict[str, Any], Depends(get_current_user)]
NEWEST_LIMIT = 100


class NewItem(BaseModel):
    """An item to create."""

    title: str = Field(min_length=1, max_length=200)
    done: bool = False


class ItemChange(BaseModel):
    """The fields an update replaces."""

    title: str = Field(min_length=1, max_length=200)
    done: bool


def public(item: dict[str, Any]) -> dict[str, Any]:
    """An item as the API returns it."""
    return {"id": str(item["_id"]), "title": item["title"], "done": item["done"]}


def item_key(item_id: str) -> ObjectId:
    """The ``_id`` of ``item_id``; 404 for a malformed id."""
    if not ObjectId.is_valid(item_id):
        raise HTTPException(404, "no such item")
    return ObjectId(item_id)


@router.get("/")
async def home() -> dict[str, Any]:
    """Which worker process answered (the benchmark waits until it has seen every worker)."""
    return {"app": "load_items", "pid": os.getpid()}


@router.post("/items", status_code=201)
async def create_item(item: NewItem, user: User, db: AppDb) -> dict[str, Any]:
    """Create an item owned by the current user."""
    document = {
        **item.model_dump(),
        "owner": user["user_id"],
        "created_at": datetime.now(timezone.utc),
    }
    result = await db.items.insert_one(document)
    return public({**document, "_id": result.inserted_id})


@router.get("/items")
async def list_items(user: User, db: AppDb, limit: int = 20) -> list[dict[str, Any]]:
    """The current user's newest items."""
    cursor = db.items.find({"owner": user["user_id"]}).sort("created_at", -1)
    return [public(item) async for item in cursor.limit(min(max(limit, 1), NEWEST_LIMIT))]


@router.get("/items/{item_id}")
async def get_item(item_id: str, user: User, db: AppDb) -> dict[str, Any]:
    """One of the current user's items."""
    item = await db.items.find_one({"_id": item_key(item_id), "owner": user["user_id"]})
    if item is None:
        raise HTTPException(404, "no such item")
    return public(item)


@router.put("/items/{item_id}")
async def update_item(item_id: str, change: ItemChange, user: User, db: AppDb) -> dict[str, Any]:
    """Replace the title and state of one of the current user's items."""
    result = await db.items.update_one(
        {"_id": item_key(item_id), "owner": user["user_id"]}, {"$set": change.model_dump()}
    )
    if result.matched_count == 0:
        raise HTTPException(404, "no such item")
    return {"id": item_id, **change.model_dump()}


@router.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: str, user: User, db: AppDb) -> None:
    """Delete one of the current user's items."""
    result = await db.items.delete_one({"_id": item_key(item_id), "owner": user["user_id"]})
    if result.deleted_count == 0:
        raise HTTPException(404, "no such item")
