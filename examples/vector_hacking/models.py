"""The HTTP shapes: a new attack's request, and an attack document as the API shows it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .vocabulary import VOCABULARY

__all__ = ["NewAttack", "attack_view"]


class NewAttack(BaseModel):
    """``POST /attacks``: the secret (only its embedding is attacked) and how to attack it."""

    model_config = ConfigDict(extra="forbid")

    target_text: str = Field(min_length=1, max_length=300)
    strategy: Literal["local", "llm"] = "local"
    max_steps: int = Field(default=8, ge=1, le=30)
    vocabulary_size: int = Field(default=len(VOCABULARY), ge=50, le=len(VOCABULARY))

    @field_validator("target_text")
    @classmethod
    def _has_words(cls, text: str) -> str:
        text = " ".join(text.split())
        if not any(character.isalnum() for character in text):
            raise ValueError("target_text needs at least one letter or digit")
        return text


def attack_view(document: dict[str, Any]) -> dict[str, Any]:
    """An attack as ``GET /attacks/{id}`` shows it; the secret only once the attack ended."""
    view = {
        "id": str(document["_id"]),
        "strategy": document["strategy"],
        "status": document["status"],
        "max_steps": document["max_steps"],
        "vocabulary_size": document["vocabulary_size"],
        "step": document.get("step"),
        "best": document.get("best"),
        "similarity": document.get("similarity"),
        "history": document.get("history", []),
        "created_at": _utc(document["created_at"]).isoformat(),
    }
    if document["status"] != "running":
        for field in ("reason", "error", "shared_words", "target_text"):
            view[field] = document.get(field)
    return view


def _utc(moment: datetime) -> datetime:
    # PyMongo returns naive datetimes (UTC) unless the client is tz_aware.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
