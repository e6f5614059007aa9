"""Running one attack in the background: record every step, broadcast it, finish cleanly.

The secret text is embedded once, here; the strategies only ever see its vector. The text
stays in the attack's document only to score the demo when it ends (which words came back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, Coroutine
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bson import ObjectId

from mdb_engine import MongoDBEngine, ScopedCollection
from mdb_engine.llm import ChatModel

from .llm_search import llm_attack
from .local_search import local_attack
from .scoring import Guess, Scorer
from .vocabulary import common_words

__all__ = ["FOUND_SIMILARITY", "AttackPlan", "AttackRegistry", "run_attack", "shared_words"]

logger = logging.getLogger(__name__)

FOUND_SIMILARITY = 0.999  # this close, the guess says what the secret says: stop


@dataclass(frozen=True)
class AttackPlan:
    """What one attack needs: its id and settings, where to record it, whom to tell."""

    attack_id: ObjectId
    target_text: str
    strategy: str
    max_steps: int
    vocabulary_size: int
    attacks: ScopedCollection
    engine: MongoDBEngine
    slug: str
    llm: ChatModel | None = None


class AttackRegistry:
    """The attacks running in this process, by id, so that DELETE can cancel them."""

    def __init__(self, max_running: int) -> None:
        self.max_running = max_running
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def is_full(self) -> bool:
        """Whether starting another attack would exceed ``max_running``."""
        return len(self._tasks) >= self.max_running

    def start(self, attack_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task, forgotten when it ends."""
        task = asyncio.get_running_loop().create_task(work, name=f"attack {attack_id}")
        self._tasks[attack_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(attack_id, None))

    def cancel(self, attack_id: str) -> bool:
        """Cancel the attack if it runs in this process; whether it did."""
        task = self._tasks.get(attack_id)
        return task is not None and task.cancel()

    async def cancel_all(self) -> None:
        """Cancel every attack and wait until each has recorded that (at shutdown)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def shared_words(guess: str, secret: str) -> list[str]:
    """The words the guess recovered from the secret (case-insensitive, sorted)."""
    return sorted(set(_words(guess)) & set(_words(secret)))


async def run_attack(plan: AttackPlan) -> None:
    """Run the attack until it ends, is cancelled or fails; record and broadcast each step."""
    best: Guess | None = None
    step = -1
    status, reason, error = "done", "max_steps", None
    try:
        service = await plan.engine.get_embedding_service(plan.slug)
        scorer = Scorer(await service.embed_query(plan.target_text), service.embed)
        async with contextlib.aclosing(_strategy(plan, scorer)) as guesses:
            async for guess in guesses:
                step += 1
                if best is None or guess.similarity > best.similarity:
                    best = guess  # the best never gets worse, whatever a strategy yields
                if await _record_step(plan, step, best):
                    status, reason = "cancelled", "cancelled"
                    break
                if best.similarity >= FOUND_SIMILARITY:
                    reason = "found"
                    break
            else:
                reason = "max_steps" if step >= plan.max_steps else "converged"
    except asyncio.CancelledError:
        await _finish(plan, "cancelled", "cancelled", best, step, None)
        raise
    except Exception as exc:  # any failure ends this attack, never the process
        logger.exception("attack %s failed", plan.attack_id)
        status, reason, error = "failed", "error", f"{type(exc).__name__}: {exc}"
    finally:
        if plan.llm is not None:
            await plan.llm.aclose()
    await _finish(plan, status, reason, best, step, error)


def _strategy(plan: AttackPlan, scorer: Scorer) -> AsyncGenerator[Guess, None]:
    vocabulary = common_words(plan.vocabulary_size)
    if plan.strategy == "llm":
        if plan.llm is None:
            raise ValueError("the llm strategy needs an LLM client")
        return llm_attack(scorer, vocabulary, plan.llm, plan.max_steps)
    return local_attack(scorer, vocabulary, plan.max_steps)


async def _record_step(plan: AttackPlan, step: int, best: Guess) -> bool:
    """Store and broadcast one step; whether a cancellation was asked for meanwhile (a
    DELETE that reached another worker process)."""
    entry = {"step": step, "best": best.text, "similarity": best.similarity}
    stored = await plan.attacks.find_one_and_update(
        {"_id": plan.attack_id},
        {"$set": {**entry, "updated_at": _now()}, "$push": {"history": entry}},
        projection={"cancel_requested": 1},
    )
    await plan.engine.broadcast_to_app(
        plan.slug, {"type": "progress", "attack": str(plan.attack_id), **entry}
    )
    return bool(stored and stored.get("cancel_requested"))


async def _finish(
    plan: AttackPlan,
    status: str,
    reason: str,
    best: Guess | None,
    step: int,
    error: str | None,
) -> None:
    """Record how the attack ended, reveal the secret and broadcast ``done``."""
    recovered = shared_words(best.text, plan.target_text) if best else []
    ending = {"status": status, "reason": reason, "error": error, "shared_words": recovered}
    try:
        await plan.attacks.update_one(
            {"_id": plan.attack_id}, {"$set": {**ending, "finished_at": _now()}}
        )
        await plan.engine.broadcast_to_app(
            plan.slug,
            {
                "type": "done",
                "attack": str(plan.attack_id),
                **ending,
                "step": step,
                "best": best.text if best else None,
                "similarity": best.similarity if best else None,
                "target_text": plan.target_text,
            },
        )
    except Exception:  # the database or the engine is gone (shutdown): say so, end quietly
        logger.exception("attack %s ended (%s) but could not be recorded", plan.attack_id, status)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _now() -> datetime:
    return datetime.now(timezone.utc)
