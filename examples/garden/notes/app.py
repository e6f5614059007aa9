"""Notes: each logged-in user writes and reads their own notes (served under /apps/notes)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from mdb_engine import ScopedDatabase
from mdb_engine.auth import get_authz_provider, get_current_user
from mdb_engine.host import get_app_db

router = APIRouter()


class NewNote(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


async def may(user: dict[str, Any], action: str, authz: Any) -> None:
    if not await authz.check(subject=user["email"], resource="notes", action=action):
        raise HTTPException(403, f"you may not {action} notes")


@router.get("/")
async def home() -> dict[str, str]:
    return {"app": "notes", "register": "auth/register", "login": "auth/login"}


@router.post("/notes", status_code=201)
async def add_note(
    note: NewNote,
    user: Annotated[dict[str, Any], Depends(get_current_user)],
    authz: Annotated[Any, Depends(get_authz_provider)],
    db: Annotated[ScopedDatabase, Depends(get_app_db)],
) -> dict[str, Any]:
    await may(user, "write", authz)
    document = {
        "owner": user["user_id"],
        "text": note.text,
        "created_at": datetime.now(timezone.utc),
    }
    result = await db.items.insert_one(document)
    return {"id": str(result.inserted_id), "text": note.text}


@router.get("/notes")
async def my_notes(
    user: Annotated[dict[str, Any], Depends(get_current_user)],
    authz: Annotated[Any, Depends(get_authz_provider)],
    db: Annotated[ScopedDatabase, Depends(get_app_db)],
) -> list[dict[str, Any]]:
    await may(user, "read", authz)
    cursor = db.items.find({"owner": user["user_id"]}).sort("created_at", -1).limit(100)
    return [{"id": str(note["_id"]), "text": note["text"]} async for note in cursor]
