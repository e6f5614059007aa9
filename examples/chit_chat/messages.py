"""The conversation as stored in the app's ``messages`` collection (``chit_chat_messages``):
one document per message, ``{user_id, role, content, created_at}``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from mdb_engine import ScopedDatabase

__all__ = ["HISTORY_IN_PROMPT", "recent_messages", "save_exchange"]

HISTORY_IN_PROMPT = 20  # messages of the recent conversation the model sees


async def recent_messages(db: ScopedDatabase, user_id: str, limit: int) -> list[dict[str, Any]]:
    """The user's newest ``limit`` messages, oldest first, as ``{role, content, created_at}``."""
    cursor = (
        db.messages.find({"user_id": user_id}, {"_id": 0, "role": 1, "content": 1, "created_at": 1})
        .sort([("created_at", -1), ("_id", -1)])
        .limit(limit)
    )
    newest_first = [message async for message in cursor]
    return newest_first[::-1]


async def save_exchange(
    db: ScopedDatabase, user_id: str, question: str, answer: str, asked_at: datetime
) -> None:
    """Store the user's message and the assistant's answer, in that order."""
    answered_at = max(datetime.now(timezone.utc), asked_at)
    await db.messages.insert_many(
        [
            {"user_id": user_id, "role": "user", "content": question, "created_at": asked_at},
            {"user_id": user_id, "role": "assistant", "content": answer, "created_at": answered_at},
        ]
    )
