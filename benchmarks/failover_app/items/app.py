"""The write-heavy app of ``benchmarks/failover.py``: insert an item, read it back by id.

Every answer carries the worker's process id, so the benchmark can tell whether a worker was
restarted during the failover.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from bson import ObjectId
from bson.errors import InvalidId
from fastapi import APIRouter, Depends, HTTPException

from mdb_engine import ScopedDatabase
from mdb_engine.host import get_app_db

router = APIRouter()
AppDb = Annotated[ScopedDatabase, Depends(get_app_db)]


@router.post("/items", status_code=201)
async def add_item(item: dict[str, Any], db: AppDb) -> dict[str, Any]:
    """Insert ``item`` (the engine's default write concern: majority on a replica set)."""
    result = await db.items.insert_one(item)
    return {"id": str(result.inserted_id), "pid": os.getpid()}


@router.get("/items/{item_id}")
async def get_item(item_id: str, db: AppDb) -> dict[str, Any]:
    """The item ``item_id``, or 404."""
    try:
        key = ObjectId(item_id)
    except InvalidId:
        raise HTTPException(404, "no such item") from None
    item = await db.items.find_one({"_id": key})
    if item is None:
        raise HTTPException(404, "no such item")
    return {"id": item_id, "pid": os.getpid()}


@router.get("/pid")
async def worker_pid() -> dict[str, int]:
    """This worker's process id."""
    return {"pid": os.getpid()}
