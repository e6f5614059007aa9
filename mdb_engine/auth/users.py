"""An app's own users, in its scoped ``users`` collection, with Argon2 password hashes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from mdb_engine.auth.passwords import PasswordHasher
from mdb_engine.database import ScopedCollection
from mdb_engine.errors import AuthError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "UserAlreadyExists",
    "UserStore",
    "WeakPassword",
    "find_by_password",
    "find_user",
    "normalize_email",
    "public_user",
]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # hashing megabytes on request would be a denial of service


class UserAlreadyExists(AuthError):
    """A user with that email already exists in the app (HTTP 409)."""


class WeakPassword(AuthError, ValueError):
    """A password is too short or too long (HTTP 422)."""


def normalize_email(email: str) -> str:
    """Emails are compared trimmed and lower-cased."""
    return email.strip().lower()


def public_user(document: Mapping[str, Any]) -> dict[str, Any]:
    """What the app sees of a user: never the password hash."""
    return {
        "user_id": str(document["_id"]),
        "email": document.get("email"),
        "name": document.get("name"),
        "roles": list(document.get("roles", [])),
        "anonymous": False,
    }


def check_password(password: str) -> None:
    """Refuse passwords the store will not hash."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")


class UserStore:
    """Creates and authenticates the users of one app."""

    def __init__(self, collection: ScopedCollection, hasher: PasswordHasher) -> None:
        self._collection = collection
        self._hasher = hasher

    async def create(
        self,
        email: str,
        password: str | None = None,
        *,
        password_hash: str | None = None,
        name: str | None = None,
        roles: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Insert a user; give ``password`` (hashed here) or an Argon2 ``password_hash``."""
        if password is not None:
            check_password(password)
            password_hash = await self._hasher.hash(password)
        if password_hash is None:
            raise ValueError("a user needs a password or a password hash")
        document: dict[str, Any] = {
            "email": normalize_email(email),
            "password_hash": password_hash,
            "name": name,
            "roles": list(roles),
            "created_at": datetime.now(timezone.utc),
        }
        if await self._collection.find_one({"email": document["email"]}, {"_id": 1}):
            raise UserAlreadyExists(f"a user with email {document['email']!r} already exists")
        try:
            result = await self._collection.insert_one(document)
        except DuplicateKeyError:  # created meanwhile, caught by the unique email index
            raise UserAlreadyExists(
                f"a user with email {document['email']!r} already exists"
            ) from None
        return public_user({**document, "_id": result.inserted_id})

    async def ensure(
        self, email: str, password_hash: str, *, name: str | None, roles: Sequence[str]
    ) -> bool:
        """Create the user unless one with that email exists; whether it was created."""
        result = await self._collection.update_one(
            {"email": normalize_email(email)},
            {
                "$setOnInsert": {
                    "password_hash": password_hash,
                    "name": name,
                    "roles": list(roles),
                    "created_at": datetime.now(timezone.utc),
                }
            },
            upsert=True,
        )
        return result.upserted_id is not None

    async def authenticate(self, email: str, password: str) -> dict[str, Any] | None:
        """The user if the password is right, else ``None`` (in about the same time)."""
        document = await find_by_password(self._collection, self._hasher, email, password)
        return None if document is None else public_user(document)

    async def get(self, user_id: str) -> dict[str, Any] | None:
        """The user with that id, or ``None``."""
        return await find_user(self._collection, user_id)


async def find_user(collection: ScopedCollection, user_id: str) -> dict[str, Any] | None:
    """The user with that id in an app's users collection, or ``None``."""
    try:
        key = ObjectId(user_id)
    except (InvalidId, TypeError):
        return None
    document = await collection.find_one({"_id": key}, {"password_hash": 0})
    return public_user(document) if document else None


async def find_by_password(
    collection: Any, hasher: PasswordHasher, email: str, password: str
) -> Mapping[str, Any] | None:
    """The document of ``email`` in ``collection`` (scoped or not) when ``password`` matches
    its ``password_hash``, else ``None``, in about the same time either way. An outdated
    hash is replaced by one with the current parameters."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    document: Mapping[str, Any] | None = await collection.find_one(
        {"email": normalize_email(email)}
    )
    if document is None:
        await hasher.verify_nobody(password)
        return None
    matches, new_hash = await hasher.verify(password, document["password_hash"])
    if not matches:
        return None
    if new_hash is not None:  # the hashing parameters were raised since it was stored
        await collection.update_one({"_id": document["_id"]}, {"$set": {"password_hash": new_hash}})
    return document
