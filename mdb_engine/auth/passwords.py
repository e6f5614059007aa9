"""Password hashing with Argon2 (pwdlib), off the event loop."""

from __future__ import annotations

import asyncio

from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["PasswordHasher"]


class PasswordHasher:
    """Hashes and checks passwords in a worker thread, so a login never stalls the loop."""

    def __init__(self) -> None:
        self._hash = PasswordHash((Argon2Hasher(),))
        # Checked against when a user does not exist, so that an unknown email costs as much
        # time as a wrong password and the response time does not reveal which it was.
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The Argon2 hash of ``password`` (salted: two calls give two different hashes)."""
        return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """``(matches, new_hash)``: ``new_hash`` is set when the stored hash's parameters are
        outdated and should be replaced. A malformed hash does not match."""
        try:
            return await asyncio.to_thread(self._hash.verify_and_update, password, hashed)
        except PwdlibError:  # a hash pwdlib cannot read is no match
            return False, None

    async def verify_nobody(self, password: str) -> bool:
        """Spend the time of one verification for a user who does not exist; always False."""
        if self._dummy is None:
            self._dummy = await self.hash("mdb-engine: no such user")
        await asyncio.to_thread(self._hash.verify, password, self._dummy)
        return False
