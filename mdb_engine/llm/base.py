"""The ``ChatModel`` protocol: what the examples need from an LLM."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["ChatModel", "Message"]

Message = Mapping[str, Any]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": "…"}``."""


@runtime_checkable
class ChatModel(Protocol):
    """An async chat model: one answer, or the answer as it is written."""

    async def chat(self, messages: Sequence[Message], **options: Any) -> str:
        """The assistant's answer to ``messages``."""
        ...

    def stream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]:
        """The answer's text in pieces, as the model writes it."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP connections."""
        ...
