"""The WebSocket side of the chat: ``{"type": "message", "text": ...}`` in; ``token`` pieces,
then one ``reply`` (or an ``error``) out, to the connection that asked only."""

from __future__ import annotations

import json
import logging
from typing import Any

from mdb_engine.errors import ConfigurationError, LLMError
from mdb_engine.host import get_engine
from mdb_engine.llm import LLMClient
from mdb_engine.routing import Connection

from .conversation import MAX_MESSAGE_LENGTH, take_turn

__all__ = ["on_message", "read_text"]

logger = logging.getLogger(__name__)


def read_text(message: dict[str, Any]) -> str | dict[str, str]:
    """The message's text, or the error to send back when the message is not a chat message."""
    if message.get("type") != "message":
        return {"type": "error", "detail": 'send {"type": "message", "text": "..."}'}
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        return {"type": "error", "detail": "text must be a non-empty string"}
    if len(text) > MAX_MESSAGE_LENGTH:
        return {"type": "error", "detail": f"text is limited to {MAX_MESSAGE_LENGTH} characters"}
    return text.strip()


async def on_message(message: dict[str, Any], connection: Connection) -> dict[str, Any]:
    """Answer one chat message, streaming the model's pieces to this connection."""
    text = read_text(message)
    if isinstance(text, dict):
        return text
    try:
        llm = LLMClient.from_env()
    except ConfigurationError as error:  # the message names the variables to set
        return {"type": "error", "detail": str(error)}
    user_id = connection.user_id
    if user_id is None:  # only if the manifest's endpoint stopped requiring login
        return {"type": "error", "detail": "log in to chat"}
    engine = get_engine(connection.websocket)

    def send_piece(piece: str) -> None:
        connection.offer(json.dumps({"type": "token", "text": piece}, separators=(",", ":")))

    async with llm:
        try:
            answer = await take_turn(
                text,
                user_id=user_id,
                db=engine.get_scoped_db(connection.app),
                memory=await engine.get_memory_service(connection.app),
                llm=llm,
                on_piece=send_piece,
            )
        except LLMError as error:
            logger.warning("user %s: the model failed: %s", user_id, error)
            return {"type": "error", "detail": f"the language model failed: {error}"}
    return {"type": "reply", "text": answer}
