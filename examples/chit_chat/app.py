"""Chit-Chat: an AI chat that remembers each user (served under /apps/chit_chat).

Users register and log in through the engine's auth routes (``auth/register``, ``auth/login``).
The chat itself runs over the manifest's WebSocket endpoint ``/ws`` (see ``chat_socket``);
the HTTP routes below show the page, the history and the memories, and offer the same chat
without streaming (``POST /chat``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from mdb_engine import ScopedDatabase, register_message_handler
from mdb_engine.auth import get_current_user
from mdb_engine.errors import ConfigurationError, LLMError
from mdb_engine.host import get_app_db, get_app_slug, get_engine
from mdb_engine.llm import LLMClient
from mdb_engine.memory import MemoryStore

from .chat_socket import on_message
from .conversation import MAX_MESSAGE_LENGTH, take_turn
from .messages import recent_messages

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
SLUG = json.loads((HERE / "manifest.json").read_text())["slug"]
CHAT_ENDPOINT = "chat"  # the key under "websockets" in the manifest

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Route the chat endpoint's messages to ``on_message`` (the app is registered by now)."""
    register_message_handler(SLUG, CHAT_ENDPOINT, on_message)
    yield


app = FastAPI(title="Chit-Chat", lifespan=lifespan)


async def get_memory(connection: HTTPConnection) -> MemoryStore:
    """The app's per-user memory store (``memory_config`` in the manifest)."""
    return await get_engine(connection).get_memory_service(get_app_slug(connection))


User = Annotated[dict[str, Any], Depends(get_current_user)]
Db = Annotated[ScopedDatabase, Depends(get_app_db)]
Memories = Annotated[MemoryStore, Depends(get_memory)]


class ChatIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)


@app.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The chat page: log in or register, then talk."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@app.get("/chat.js", include_in_schema=False)
async def script() -> FileResponse:
    return FileResponse(STATIC / "chat.js", media_type="text/javascript")


@app.get("/history")
async def history(
    user: User, db: Db, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    """The user's newest messages, oldest first."""
    messages = await recent_messages(db, user["user_id"], limit)
    return {"messages": [{**m, "created_at": m["created_at"].isoformat()} for m in messages]}


@app.get("/memories")
async def memories(user: User, memory: Memories) -> dict[str, Any]:
    """What the app remembers about the user, newest first."""
    remembered = await memory.get_all(user_id=user["user_id"], limit=100)
    return {"memories": [item.to_dict() for item in remembered]}


@app.delete("/memories")
async def forget(user: User, memory: Memories) -> dict[str, int]:
    """Forget everything about the user (the conversation history stays)."""
    return {"deleted": await memory.delete_all(user_id=user["user_id"])}


@app.post("/chat")
async def chat(message: ChatIn, user: User, db: Db, memory: Memories) -> dict[str, str]:
    """The same turn as over the WebSocket, answered in one piece."""
    if not message.text.strip():
        raise HTTPException(422, "text must not be blank")
    try:
        llm = LLMClient.from_env()
    except ConfigurationError as error:
        raise HTTPException(503, str(error)) from None
    async with llm:
        try:
            answer = await take_turn(
                message.text.strip(), user_id=user["user_id"], db=db, memory=memory, llm=llm
            )
        except LLMError as error:
            logger.warning("user %s: the model failed: %s", user["user_id"], error)
            raise HTTPException(502, f"the language model failed: {error}") from None
    return {"reply": answer}
