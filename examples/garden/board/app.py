"""Board: anyone adds cards; open WebSockets get each new card (served under /apps/board)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from mdb_engine import MongoDBEngine, ScopedDatabase
from mdb_engine.host import get_app_db, get_engine

app = FastAPI(title="Board")


class NewCard(BaseModel):
    title: str = Field(min_length=1, max_length=200)


@app.get("/")
async def home() -> dict[str, Any]:
    return {"app": "board", "cards": "cards", "events": "events", "worker": os.getpid()}


@app.post("/cards", status_code=201)
async def add_card(
    card: NewCard,
    db: Annotated[ScopedDatabase, Depends(get_app_db)],
    engine: Annotated[MongoDBEngine, Depends(get_engine)],
) -> dict[str, Any]:
    document = {"title": card.title, "created_at": datetime.now(timezone.utc)}
    result = await db.items.insert_one(document)
    created = {"id": str(result.inserted_id), "title": card.title, "worker": os.getpid()}
    await engine.broadcast_to_app("board", {"type": "card", "card": created})
    return created


@app.get("/cards")
async def list_cards(db: Annotated[ScopedDatabase, Depends(get_app_db)]) -> list[dict[str, Any]]:
    cursor = db.items.find().sort("created_at", -1).limit(100)
    return [{"id": str(card["_id"]), "title": card["title"]} async for card in cursor]
