"""Answers from an LLM: the client from the environment, one answer, or the answer streamed
as server-sent events."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import HTTPException

from mdb_engine.errors import ConfigurationError, LLMError
from mdb_engine.llm import ChatModel, LLMClient

from .prompting import build_messages
from .schemas import Source

__all__ = ["NOTHING_TO_ANSWER_FROM", "answer", "chat_model_from_env", "stream_answer"]

logger = logging.getLogger(__name__)

NOTHING_TO_ANSWER_FROM = (
    "There are no documents to answer from yet: add some with POST documents first."
)
"""The answer when nothing is stored (the LLM is not asked: it would have no sources)."""

TEMPERATURE = 0.2


def chat_model_from_env() -> LLMClient:
    """The LLM the environment configures; HTTP 503 naming the variables when there is none."""
    try:
        return LLMClient.from_env()
    except ConfigurationError as error:
        raise HTTPException(
            status_code=503,
            detail=f"ask needs an LLM and none is configured (search works without one): {error}",
        ) from error


async def answer(llm: ChatModel, question: str, sources: Sequence[Source]) -> str:
    """The LLM's answer to ``question`` from ``sources``; HTTP 502 if the LLM fails."""
    if not sources:
        return NOTHING_TO_ANSWER_FROM
    try:
        return await llm.chat(build_messages(question, sources), temperature=TEMPERATURE)
    except LLMError as error:
        logger.warning("the LLM failed to answer: %s", error)
        raise HTTPException(status_code=502, detail=f"the LLM failed: {error}") from error


async def stream_answer(
    llm: ChatModel, question: str, sources: Sequence[Source]
) -> AsyncIterator[str]:
    """Server-sent events: ``sources`` first, then ``delta`` pieces of the answer, then
    ``done`` with the whole answer (or ``error`` if the LLM fails midway). Closes ``llm``."""
    try:
        yield _event("sources", {"sources": [source.model_dump() for source in sources]})
        if not sources:
            yield _event("done", {"answer": NOTHING_TO_ANSWER_FROM})
            return
        pieces: list[str] = []
        try:
            messages = build_messages(question, sources)
            async for piece in llm.stream(messages, temperature=TEMPERATURE):
                pieces.append(piece)
                yield _event("delta", {"text": piece})
        except LLMError as error:
            logger.warning("the LLM failed while streaming: %s", error)
            yield _event("error", {"detail": f"the LLM failed: {error}"})
            return
        yield _event("done", {"answer": "".join(pieces)})
    finally:
        await llm.aclose()


def _event(name: str, data: dict[str, Any]) -> str:
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
