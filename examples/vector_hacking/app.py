"""Vector hacking: recover a secret text from its embedding alone, live over a WebSocket.

``POST /attacks`` starts an attack in the background; every step goes to the clients of
``/ws`` as ``{"type": "progress", ...}``, the end as ``{"type": "done", ...}``.
``GET /attacks/{id}`` reads it back from MongoDB; ``DELETE /attacks/{id}`` cancels it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from bson import ObjectId
from bson.errors import InvalidId
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mdb_engine import ConfigurationError, MongoDBEngine, ScopedDatabase
from mdb_engine.errors import OptionalDependencyMissing
from mdb_engine.host import get_app_db, get_app_slug, get_engine
from mdb_engine.llm import ChatModel, LLMClient

from .models import NewAttack, attack_view
from .runner import AttackPlan, AttackRegistry, run_attack

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_RUNNING = 2  # attacks at once per process: each keeps a CPU busy with embeddings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Running attacks are cancelled (and recorded as such) when the app stops."""
    yield
    await app.state.attacks.cancel_all()


app = FastAPI(title="Vector hacking", lifespan=lifespan)
app.state.attacks = AttackRegistry(MAX_RUNNING)
app.mount("/static", StaticFiles(directory=STATIC), name="static")

AppDb = Annotated[ScopedDatabase, Depends(get_app_db)]
Engine = Annotated[MongoDBEngine, Depends(get_engine)]
Slug = Annotated[str, Depends(get_app_slug)]


def get_registry(request: Request) -> AttackRegistry:
    """The attacks running in this process."""
    registry: AttackRegistry = request.app.state.attacks
    return registry


Registry = Annotated[AttackRegistry, Depends(get_registry)]


@app.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The page that starts an attack and shows its progress."""
    return FileResponse(STATIC / "index.html")


@app.post("/attacks", status_code=201)
async def start_attack(
    attack: NewAttack, db: AppDb, engine: Engine, slug: Slug, registry: Registry
) -> dict[str, Any]:
    """Start an attack on ``target_text``'s embedding; its id, to follow it on ``/ws``."""
    if registry.is_full:
        raise HTTPException(
            429, f"{registry.max_running} attacks are running already: wait, or DELETE one"
        )
    llm = _llm_client() if attack.strategy == "llm" else None
    now = datetime.now(timezone.utc)
    document: dict[str, Any] = {
        "strategy": attack.strategy,
        "max_steps": attack.max_steps,
        "vocabulary_size": attack.vocabulary_size,
        "status": "running",
        "target_text": attack.target_text,  # only to score the demo at the end
        "history": [],
        "created_at": now,
        "updated_at": now,
    }
    attack_id = (await db.attacks.insert_one(document)).inserted_id
    plan = AttackPlan(
        attack_id=attack_id,
        target_text=attack.target_text,
        strategy=attack.strategy,
        max_steps=attack.max_steps,
        vocabulary_size=attack.vocabulary_size,
        attacks=db.attacks,
        engine=engine,
        slug=slug,
        llm=llm,
    )
    registry.start(str(attack_id), run_attack(plan))
    logger.info("attack %s started (%s, %d steps)", attack_id, attack.strategy, attack.max_steps)
    return {"id": str(attack_id), "status": "running", "events": "ws"}


@app.get("/attacks/{attack_id}")
async def read_attack(attack_id: str, db: AppDb) -> dict[str, Any]:
    """The attack as recorded: its best guess, each step, and once it ended, the secret."""
    document = await db.attacks.find_one({"_id": _object_id(attack_id)})
    if document is None:
        raise HTTPException(404, f"no attack {attack_id}")
    return attack_view(document)


@app.delete("/attacks/{attack_id}", status_code=202)
async def cancel_attack(attack_id: str, db: AppDb, registry: Registry) -> dict[str, Any]:
    """Cancel a running attack; its ``done`` event (status ``cancelled``) follows."""
    object_id = _object_id(attack_id)
    marked = await db.attacks.update_one(
        {"_id": object_id, "status": "running"}, {"$set": {"cancel_requested": True}}
    )
    if marked.matched_count == 0:
        if await db.attacks.count_documents({"_id": object_id}, limit=1):
            raise HTTPException(409, f"attack {attack_id} has already ended")
        raise HTTPException(404, f"no attack {attack_id}")
    # Here it stops at once; in another worker process, at its next step.
    registry.cancel(attack_id)
    return {"id": attack_id, "cancel_requested": True}


def _llm_client() -> ChatModel:
    try:
        return LLMClient.from_env()
    except (ConfigurationError, OptionalDependencyMissing) as exc:
        raise HTTPException(503, f"the llm strategy needs an LLM: {exc}") from exc


def _object_id(attack_id: str) -> ObjectId:
    try:
        return ObjectId(attack_id)
    except (InvalidId, TypeError):
        raise HTTPException(404, f"no attack {attack_id}") from None
