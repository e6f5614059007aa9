"""``mdb-engine new SLUG``: a working app folder (manifest, ``app.py``, a test)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mdb_engine.errors import ConfigurationError

__all__ = ["SLUG_PATTERN", "scaffold_app"]

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{1,62}$")

_APP_PY = '''"""The {name} app: served by `mdb-engine serve` under /apps/{slug}/."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from bson import ObjectId
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from mdb_engine import ScopedDatabase
from mdb_engine.host import get_app_db

router = APIRouter()
AppDb = Annotated[ScopedDatabase, Depends(get_app_db)]  # this app's sandboxed database


class NewItem(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    done: bool = False


def public(item: dict[str, Any]) -> dict[str, Any]:
    return {{"id": str(item["_id"]), "title": item["title"], "done": item["done"]}}


@router.get("/")
async def home() -> dict[str, str]:
    return {{"app": "{slug}", "items": "/apps/{slug}/items"}}


@router.get("/items")
async def list_items(db: AppDb) -> list[dict[str, Any]]:
    return [public(item) async for item in db.items.find().sort("created_at", -1).limit(100)]


@router.post("/items", status_code=201)
async def add_item(item: NewItem, db: AppDb) -> dict[str, Any]:
    document = {{**item.model_dump(), "created_at": datetime.now(timezone.utc)}}
    result = await db.items.insert_one(document)
    return public({{**document, "_id": result.inserted_id}})


@router.get("/items/{{item_id}}")
async def get_item(item_id: str, db: AppDb) -> dict[str, Any]:
    if not ObjectId.is_valid(item_id):
        raise HTTPException(404, "no such item")
    item = await db.items.find_one({{"_id": ObjectId(item_id)}})
    if item is None:
        raise HTTPException(404, "no such item")
    return public(item)
'''

_TEST_PY = '''"""Tests of the {name} app on a real MongoDB: run with `pytest {slug}`."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from mdb_engine.host import create_host_app
from mdb_engine.testing import mongodb_database, mongodb_uri  # noqa: F401 (pytest fixtures)

HERE = Path(__file__).resolve().parent


def test_add_and_list_items(mongodb_uri: str, mongodb_database: str) -> None:  # noqa: F811
    host = create_host_app(HERE, mongo_uri=mongodb_uri, db_name=mongodb_database, admin=False)
    with TestClient(host) as client:
        created = client.post("/apps/{slug}/items", json={{"title": "first"}})
        assert created.status_code == 201, created.text
        item = created.json()
        assert item["title"] == "first"
        assert client.get(f"/apps/{slug}/items/{{item['id']}}").json() == item
        assert client.get("/apps/{slug}/items").json() == [item]
        assert client.post("/apps/{slug}/items", json={{"title": ""}}).status_code == 422
'''


def scaffold_app(slug: str, parent: Path, *, name: str | None = None) -> Path:
    """Create folder ``parent/slug`` with a manifest, an ``app.py`` and a test; its path.

    Nothing is written when the slug is invalid or the folder already exists.
    """
    if not SLUG_PATTERN.match(slug):
        raise ConfigurationError(
            f"{slug!r} is not a valid app slug: use 2-63 characters, lower-case letters, "
            "digits, '_' or '-', starting with a letter (e.g. 'my_notes')"
        )
    folder = parent / slug
    if folder.exists():
        raise ConfigurationError(
            f"{folder} already exists: choose another slug or remove the folder first"
        )
    title = name or slug.replace("_", " ").replace("-", " ").title()
    manifest = {
        "schema_version": "2.0",
        "slug": slug,
        "name": title,
        "description": f"{title}, created with `mdb-engine new`.",
        "status": "active",
        "managed_indexes": {
            "items": [
                {"name": "newest_first", "type": "regular", "keys": {"created_at": -1}},
            ]
        },
        "observability": {"enabled": True},
    }
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    (folder / "app.py").write_text(_APP_PY.format(slug=slug, name=title), "utf-8")
    (folder / "test_app.py").write_text(_TEST_PY.format(slug=slug, name=title), "utf-8")
    return folder
