"""One turn of the chat: recall the user's memories, ask the model with the recent
conversation, stream its answer, then store the exchange and remember the user's message."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

from mdb_engine import ScopedDatabase
from mdb_engine.llm import ChatModel
from mdb_engine.memory import MemoryStore

from .messages import HISTORY_IN_PROMPT, recent_messages, save_exchange
from .prompt import build_prompt

__all__ = ["MAX_MESSAGE_LENGTH", "MEMORIES_IN_PROMPT", "take_turn"]

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4000
MEMORIES_IN_PROMPT = 5


async def take_turn(
    text: str,
    *,
    user_id: str,
    db: ScopedDatabase,
    memory: MemoryStore,
    llm: ChatModel,
    on_piece: Callable[[str], object] | None = None,
) -> str:
    """Answer ``text`` for ``user_id``; ``on_piece`` sees each piece as the model streams it.
    Nothing is stored when the model fails (its ``LLMError`` propagates)."""
    asked_at = datetime.now(timezone.utc)
    hits = await memory.search(text, user_id=user_id, limit=MEMORIES_IN_PROMPT)
    history = await recent_messages(db, user_id, HISTORY_IN_PROMPT)
    prompt = build_prompt(text, memories=[hit.memory for hit in hits], history=history)
    pieces: list[str] = []
    async for piece in llm.stream(prompt):
        pieces.append(piece)
        if on_piece is not None:
            on_piece(piece)
    answer = "".join(pieces)
    await save_exchange(db, user_id, text, answer, asked_at)
    await memory.add([{"role": "user", "content": text}], user_id=user_id)
    logger.info(
        "user %s: answered with %d pieces, %d memories recalled", user_id, len(pieces), len(hits)
    )
    return answer
