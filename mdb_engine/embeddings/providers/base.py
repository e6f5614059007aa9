"""What an embedding provider is: texts in, one vector per text out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["EmbeddingProvider"]


@runtime_checkable
class EmbeddingProvider(Protocol):
    """Turns texts into vectors, one per text and in the same order.

    ``dimensions`` is the length of every vector, or ``None`` while the provider cannot know it
    yet (a remote model that is neither configured nor known, before its first answer).
    Implement this to plug in another model; ``aclose`` releases what the provider holds
    (connections, not a shared model).
    """

    @property
    def dimensions(self) -> int | None:
        """The length of every vector, or ``None`` while it is not known yet."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in the same order."""

    async def aclose(self) -> None:
        """Release what the provider holds, such as its HTTP connections."""
