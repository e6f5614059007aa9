"""``mdb-engine admin create-user|list-users|delete-user`` as real processes."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from pymongo import MongoClient

from tests.cli.processes import CLI

PASSWORD = "a long enough password"


@pytest.fixture
def env(process_env: dict[str, str], mongodb_uri: str, mongodb_database: str) -> dict[str, str]:
    return {
        **process_env,
        "MDB_ENGINE_MONGO_URI": mongodb_uri,
        "MDB_ENGINE_DB_NAME": mongodb_database,
    }


def admin(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "admin", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stored_admins(uri: str, database: str) -> list[dict[str, Any]]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        return list(client[database]["_mdb_engine_admins"].find())
    finally:
        client.close()


def test_create_list_and_delete_admin_accounts(
    env: dict[str, str], mongodb_uri: str, mongodb_database: str
) -> None:
    created = admin(
        {**env, "MDB_ENGINE_ADMIN_PASSWORD": PASSWORD}, "create-user", "--email", "Root@Example.com"
    )
    assert created.returncode == 0, created.stderr
    assert "admin account root@example.com created" in created.stdout
    (account,) = stored_admins(mongodb_uri, mongodb_database)
    assert account["email"] == "root@example.com"
    assert account["password_hash"].startswith("$argon2id$")

    again = admin(env, "create-user", "--email", "root@example.com", "--password", PASSWORD)
    assert again.returncode == 1
    assert "already exists" in again.stderr

    # Without --password or the variable, the password is asked for twice (hidden).
    prompted = admin(env, "create-user", "--email", "ops@example.com", stdin=f"{PASSWORD}\n" * 2)
    assert prompted.returncode == 0, prompted.stderr
    listed = admin(env, "list-users")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "ops@example.com",
        "root@example.com",
    ]

    deleted = admin(env, "delete-user", "--email", "ops@example.com")
    assert deleted.returncode == 0, deleted.stderr
    missing = admin(env, "delete-user", "--email", "ops@example.com")
    assert missing.returncode == 1
    assert "no admin account" in missing.stderr
    assert [a["email"] for a in stored_admins(mongodb_uri, mongodb_database)] == [
        "root@example.com"
    ]


def test_a_weak_password_is_refused(
    env: dict[str, str], mongodb_uri: str, mongodb_database: str
) -> None:
    result = admin(
        env,
        "create-user",
        "--email",
        "root@example.com",
        "--password",
        "short",
        "--db",
        mongodb_database,
    )
    assert result.returncode == 1
    assert "at least 12 characters" in result.stderr
    assert stored_admins(mongodb_uri, mongodb_database) == []
