"""What ``dir()`` shows of a scoped object: its API, never its private state."""

from __future__ import annotations

__all__ = ["public_names"]


def public_names(cls: type) -> list[str]:
    """The public attribute names of ``cls``, sorted."""
    return sorted(name for name in dir(cls) if not name.startswith("_"))
