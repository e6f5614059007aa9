"""How messages are written to WebSocket clients."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["encode_message"]


def encode_message(message: Any) -> str:
    """A message as the JSON text sent to clients (ObjectIds and dates as strings)."""
    return json.dumps(message, default=str, separators=(",", ":"))
