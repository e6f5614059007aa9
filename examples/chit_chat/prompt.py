"""The prompt sent to the model: a system message listing what is remembered about the user,
the recent conversation, then the new message. Pure: lists in, list out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SYSTEM_PROMPT", "build_prompt"]

SYSTEM_PROMPT = (
    "You are Chit-Chat, a friendly assistant with a memory. Answer briefly and warmly, and use "
    "what you remember about the user when it helps."
)


def build_prompt(
    text: str, *, memories: Sequence[str], history: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Chat messages for the model: system (with the memories), history, then ``text``."""
    if memories:
        remembered = "\n".join(f"- {memory}" for memory in memories)
        system = f"{SYSTEM_PROMPT}\n\nWhat the user told you before:\n{remembered}"
    else:
        system = f"{SYSTEM_PROMPT}\n\nYou do not remember anything about this user yet."
    prompt = [{"role": "system", "content": system}]
    prompt += [{"role": turn["role"], "content": turn["content"]} for turn in history]
    prompt.append({"role": "user", "content": text})
    return prompt
