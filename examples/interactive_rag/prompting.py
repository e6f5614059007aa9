"""The prompt that asks an LLM to answer from numbered sources (pure: text in, messages out)."""

from __future__ import annotations

from collections.abc import Sequence

from mdb_engine.llm import Message

from .schemas import Passage, Source

__all__ = ["SYSTEM_PROMPT", "build_messages", "number_sources"]

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources you are given. Cite the sources "
    "you use as [1], [2] and so on. If the sources do not contain the answer, say that you "
    "do not know rather than guessing."
)


def number_sources(passages: Sequence[Passage]) -> list[Source]:
    """The passages as sources numbered from 1, in the order they were retrieved."""
    return [
        Source(number=number, **passage.model_dump())
        for number, passage in enumerate(passages, start=1)
    ]


def build_messages(question: str, sources: Sequence[Source]) -> list[Message]:
    """A system message with the rules, then the sources and the question."""
    listed = "\n\n".join(
        f"[{source.number}] {source.title} (part {source.chunk_index + 1})\n{source.text}"
        for source in sources
    )
    question_part = f"Sources:\n\n{listed}\n\nQuestion: {question}"
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": question_part},
    ]
