"""Admin accounts of the console, in the engine collection ``_mdb_engine_admins``.

An account is an email (unique, compared trimmed and lower-cased) and an Argon2 hash of its
password. Accounts are made with ``mdb-engine admin create-user``; the console only checks them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from mdb_engine.auth.passwords import PasswordHasher
from mdb_engine.auth.users import (
    MAX_PASSWORD_LENGTH,
    WeakPassword,
    find_by_password,
    normalize_email,
)
from mdb_engine.errors import AuthError

if TYPE_CHECKING:
    from mdb_engine.core.engine import MongoDBEngine

__all__ = [
    "ADMINS_COLLECTION",
    "MIN_ADMIN_PASSWORD_LENGTH",
    "AdminAccount",
    "AdminAccountExists",
    "AdminAccounts",
    "check_admin_password",
]

logger = logging.getLogger(__name__)

ADMINS_COLLECTION = "admins"
"""The engine collection holding the accounts (``_mdb_engine_admins``)."""
MIN_ADMIN_PASSWORD_LENGTH = 12


class AdminAccountExists(AuthError):
    """An admin account with that email already exists."""


@dataclass(frozen=True)
class AdminAccount:
    """An admin account, without its password hash."""

    email: str
    created_at: datetime


class AdminAccounts:
    """Creates, lists, deletes and checks the admin accounts of one engine's database."""

    def __init__(self, engine: MongoDBEngine, hasher: PasswordHasher | None = None) -> None:
        self._engine = engine
        self._hasher = hasher or PasswordHasher()
        self._is_indexed = False

    async def _collection(self) -> AsyncCollection[Mapping[str, Any]]:
        collection = await self._engine.system_collection(ADMINS_COLLECTION)
        if not self._is_indexed:
            await _ensure_unique_email(collection)
            self._is_indexed = True
        return collection

    async def create(self, email: str, password: str) -> AdminAccount:
        """Add an account; :class:`AdminAccountExists` if the email is taken."""
        address = normalize_email(email)
        if "@" not in address:
            raise ValueError(f"not an email address: {email!r}")
        check_admin_password(password)
        document = {
            "email": address,
            "password_hash": await self._hasher.hash(password),
            "created_at": datetime.now(timezone.utc),
        }
        collection = await self._collection()
        try:
            await collection.insert_one(document)
        except DuplicateKeyError:
            raise AdminAccountExists(f"an admin account {address!r} already exists") from None
        logger.info("admin account created")
        return _account(document)

    async def authenticate(self, email: str, password: str) -> AdminAccount | None:
        """The account if the password is right, else ``None`` (in about the same time)."""
        collection = await self._collection()
        document = await find_by_password(collection, self._hasher, email, password)
        return None if document is None else _account(document)

    async def list_accounts(self) -> list[AdminAccount]:
        """Every account, by email."""
        collection = await self._collection()
        documents = await collection.find({}, {"password_hash": 0}, sort=[("email", 1)]).to_list()
        return [_account(document) for document in documents]

    async def delete(self, email: str) -> bool:
        """Remove an account; whether it existed."""
        collection = await self._collection()
        result = await collection.delete_one({"email": normalize_email(email)})
        return result.deleted_count == 1


def check_admin_password(password: str) -> None:
    """Refuse admin passwords shorter than 12 or longer than 1024 characters."""
    if len(password) < MIN_ADMIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"an admin password must be at least {MIN_ADMIN_PASSWORD_LENGTH} characters long"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")


async def _ensure_unique_email(collection: AsyncCollection[Mapping[str, Any]]) -> None:
    # Checked first, so that a restart with the index in place builds nothing.
    async for index in await collection.list_indexes():
        if dict(index["key"]) == {"email": 1} and index.get("unique"):
            return
    await collection.create_index([("email", 1)], unique=True, name="email_unique")


def _account(document: Mapping[str, Any]) -> AdminAccount:
    created = document["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)  # BSON dates come back naive
    return AdminAccount(email=str(document["email"]), created_at=created)
