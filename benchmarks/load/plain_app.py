"""The baseline of ``benchmarks/load_http.py``: the same API in plain FastAPI + PyMongo.

What an experienced developer writes without mdb-engine: a ``users`` collection with a unique
email index, Argon2 hashes (pwdlib, the engine's parameters) computed in a worker thread,
HS256 access tokens (PyJWT, 15 minutes, as the engine's) checked by a bearer dependency, and
the items API of ``apps/load_items/app.py`` on a plain ``AsyncMongoClient``. Served by
``uvicorn plain_app:app --app-dir benchmarks/load --workers 2``; configured by
``LOAD_MONGO_URI``, ``LOAD_DB_NAME`` and ``LOAD_SECRET_KEY``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import jwt
from bson import ObjectId
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

SECRET_KEY = os.environ["LOAD_SECRET_KEY"]
ALGORITHM = "HS256"
ACCESS_TOKEN_TTL = timedelta(minutes=15)
NEWEST_LIMIT = 100
PASSWORDS = PasswordHash((Argon2Hasher(),))
NOBODY_HASH = PASSWORDS.hash("no such user")  # an unknown email costs one verification too
bearer = HTTPBearer(auto_error=False)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Connect, make sure the indexes exist, and close the client at shutdown."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["LOAD_MONGO_URI"])
    database = client[os.environ["LOAD_DB_NAME"]]
    await database.users.create_index([("email", ASCENDING)], unique=True, name="email_unique")
    await database.items.create_index(
        [("owner", ASCENDING), ("created_at", DESCENDING)], name="owner_newest"
    )
    app.state.db = database
    yield
    await client.close()


app = FastAPI(title="Load items (plain)", lifespan=lifespan)
router = APIRouter()


def get_db(request: Request) -> AsyncDatabase[dict[str, Any]]:
    """The application's database."""
    database: AsyncDatabase[dict[str, Any]] = request.app.state.db
    return database


Db = Annotated[AsyncDatabase[dict[str, Any]], Depends(get_db)]


def unauthorized(detail: str) -> HTTPException:
    """A 401 asking for a bearer token."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def get_current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict[str, Any]:
    """The user of a valid access token (401 otherwise)."""
    if credentials is None:
        raise unauthorized("authentication required")
    try:
        claims = jwt.decode(credentials.credentials, SECRET_KEY, algorithms=[ALGORITHM])
    except jwt.PyJWTError:
        raise unauthorized("invalid or expired token") from None
    return {"user_id": claims["sub"], "email": claims["email"]}


User = Annotated[dict[str, Any], Depends(get_current_user)]


class Credentials(BaseModel):
    """A login form."""

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=1024)


class Registration(Credentials):
    """A sign-up form."""

    name: str | None = Field(default=None, max_length=200)


def issue_token(user: dict[str, Any]) -> dict[str, Any]:
    """The login answer: a signed access token for ``user``."""
    now = datetime.now(timezone.utc)
    claims = {"sub": str(user["_id"]), "email": user["email"], "iat": now}
    token = jwt.encode({**claims, "exp": now + ACCESS_TOKEN_TTL}, SECRET_KEY, algorithm=ALGORITHM)
    return {
        "user": {"user_id": str(user["_id"]), "email": user["email"], "name": user.get("name")},
        "access_token": token,
        "token_type": "bearer",
        "expires_in": int(ACCESS_TOKEN_TTL.total_seconds()),
    }


@router.post("/auth/register", status_code=201)
async def register(form: Registration, db: Db) -> dict[str, Any]:
    """Create an account and log it in."""
    user = {
        "email": form.email.strip().lower(),
        "password_hash": await asyncio.to_thread(PASSWORDS.hash, form.password),
        "name": form.name,
        "created_at": datetime.now(timezone.utc),
    }
    try:
        result = await db.users.insert_one(user)
    except DuplicateKeyError:
        raise HTTPException(409, "a user with this email already exists") from None
    return issue_token({**user, "_id": result.inserted_id})


@router.post("/auth/login")
async def login(form: Credentials, db: Db) -> dict[str, Any]:
    """Exchange an email and password for an access token."""
    user = await db.users.find_one({"email": form.email.strip().lower()})
    stored = user["password_hash"] if user else NOBODY_HASH
    if not await asyncio.to_thread(PASSWORDS.verify, form.password, stored) or user is None:
        raise unauthorized("invalid email or password")
    return issue_token(user)


class NewItem(BaseModel):
    """An item to create."""

    title: str = Field(min_length=1, max_length=200)
    done: bool = False


class ItemChange(BaseModel):
    """The fields an update replaces."""

    title: str = Field(min_length=1, max_length=200)
    done: bool


def public(item: dict[str, Any]) -> dict[str, Any]:
    """An item as the API returns it."""
    return {"id": str(item["_id"]), "title": item["title"], "done": item["done"]}


def item_key(item_id: str) -> ObjectId:
    """The ``_id`` of ``item_id``; 404 for a malformed id."""
    if not ObjectId.is_valid(item_id):
        raise HTTPException(404, "no such item")
    return ObjectId(item_id)


@router.get("/")
async def home() -> dict[str, Any]:
    """Which worker process answered (the benchmark waits until it has seen every worker)."""
    return {"app": "load_items_plain", "pid": os.getpid()}


@router.post("/items", status_code=201)
async def create_item(item: NewItem, user: User, db: Db) -> dict[str, Any]:
    """Create an item owned by the current user."""
    document = {
        **item.model_dump(),
        "owner": user["user_id"],
        "created_at": datetime.now(timezone.utc),
    }
    result = await db.items.insert_one(document)
    return public({**document, "_id": result.inserted_id})


@router.get("/items")
async def list_items(user: User, db: Db, limit: int = 20) -> list[dict[str, Any]]:
    """The current user's newest items."""
    cursor = db.items.find({"owner": user["user_id"]}).sort("created_at", -1)
    return [public(item) async for item in cursor.limit(min(max(limit, 1), NEWEST_LIMIT))]


@router.get("/items/{item_id}")
async def get_item(item_id: str, user: User, db: Db) -> dict[str, Any]:
    """One of the current user's items."""
    item = await db.items.find_one({"_id": item_key(item_id), "owner": user["user_id"]})
    if item is None:
        raise HTTPException(404, "no such item")
    return public(item)


@router.put("/items/{item_id}")
async def update_item(item_id: str, change: ItemChange, user: User, db: Db) -> dict[str, Any]:
    """Replace the title and state of one of the current user's items."""
    result = await db.items.update_one(
        {"_id": item_key(item_id), "owner": user["user_id"]}, {"$set": change.model_dump()}
    )
    if result.matched_count == 0:
        raise HTTPException(404, "no such item")
    return {"id": item_id, **change.model_dump()}


@router.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: str, user: User, db: Db) -> None:
    """Delete one of the current user's items."""
    result = await db.items.delete_one({"_id": item_key(item_id), "owner": user["user_id"]})
    if result.deleted_count == 0:
        raise HTTPException(404, "no such item")


app.include_router(router)
