"""Argon2 password hashing, in a worker thread."""

from __future__ import annotations

import asyncio

from mdb_engine.auth import PasswordHasher


async def test_hash_is_argon2_salted_and_verifies() -> None:
    hasher = PasswordHasher()
    first, second = await hasher.hash("s3cret!"), await hasher.hash("s3cret!")
    assert first.startswith("$argon2id$")
    assert first != second
    assert "s3cret!" not in first
    assert await hasher.verify("s3cret!", first) == (True, None)
    assert (await hasher.verify("wrong", first))[0] is False


async def test_malformed_hash_is_no_match() -> None:
    assert await PasswordHasher().verify("x", "not-a-hash") == (False, None)


async def test_unknown_user_costs_a_verification_and_is_false() -> None:
    assert await PasswordHasher().verify_nobody("whatever") is False


async def test_hashing_does_not_block_the_event_loop() -> None:
    hasher = PasswordHasher()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await asyncio.gather(*(hasher.hash(f"p{n}") for n in range(4)))
    ticker.cancel()
    assert ticks > 5  # the loop kept running while Argon2 worked in threads
