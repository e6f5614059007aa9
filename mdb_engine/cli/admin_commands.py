"""``mdb-engine admin create-user|list-users|delete-user``: the admin console's accounts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from mdb_engine.cli._local import mongo_uri_or_local
from mdb_engine.core.config import ENV_DB_NAME, ENV_MONGO_URI
from mdb_engine.core.engine import MongoDBEngine
from mdb_engine.errors import MDBEngineError
from mdb_engine.host.admin import AdminAccounts, AdminSessions

__all__ = ["ENV_ADMIN_PASSWORD", "app"]

ENV_ADMIN_PASSWORD = "MDB_ENGINE_ADMIN_PASSWORD"

app = typer.Typer(
    name="admin",
    help="Manage the accounts of the admin console (/admin).",
    no_args_is_help=True,
)

Email = Annotated[str, typer.Option("--email", help="The admin's email address.")]
MongoUri = Annotated[
    str | None,
    typer.Option(
        help=f"MongoDB to use (default: ${ENV_MONGO_URI}, else this folder's local mongod)."
    ),
]
DbName = Annotated[
    str | None, typer.Option("--db", help=f"Database (default: ${ENV_DB_NAME}, else mdb_engine).")
]
Password = Annotated[
    str | None,
    typer.Option(
        "--password",
        envvar=ENV_ADMIN_PASSWORD,
        show_envvar=True,
        help="The password (at least 12 characters); prompted for, hidden, when not given.",
    ),
]

T = TypeVar("T")


@app.command("create-user")
def create_user(
    email: Email, password: Password = None, mongo_uri: MongoUri = None, db: DbName = None
) -> None:
    """Create an admin account (the password is stored as an Argon2 hash)."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def _create(engine: MongoDBEngine) -> str:
        account = await AdminAccounts(engine).create(email, password)
        return account.email

    created = _run(_create, mongo_uri, db)
    typer.echo(f"✓ admin account {created} created")


@app.command("list-users")
def list_users(mongo_uri: MongoUri = None, db: DbName = None) -> None:
    """List the admin accounts."""

    async def _list(engine: MongoDBEngine) -> list[str]:
        accounts = await AdminAccounts(engine).list_accounts()
        return [f"{account.email}  (created {account.created_at:%Y-%m-%d})" for account in accounts]

    lines = _run(_list, mongo_uri, db)
    typer.echo("\n".join(lines) if lines else "No admin accounts yet.")


@app.command("delete-user")
def delete_user(email: Email, mongo_uri: MongoUri = None, db: DbName = None) -> None:
    """Delete an admin account and end its sessions."""

    async def _delete(engine: MongoDBEngine) -> bool:
        existed = await AdminAccounts(engine).delete(email)
        await AdminSessions(engine).revoke_all(email)
        return existed

    if not _run(_delete, mongo_uri, db):
        typer.secho(f"✗ no admin account {email!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    typer.echo(f"✓ admin account {email} deleted")


def _run(
    action: Callable[[MongoDBEngine], Awaitable[T]], mongo_uri: str | None, db: str | None
) -> T:
    async def _main(uri: str) -> T:
        async with MongoDBEngine(uri, db) as engine:
            return await action(engine)

    try:
        with mongo_uri_or_local(mongo_uri) as uri:
            return asyncio.run(_main(uri))
    except (MDBEngineError, ValueError) as exc:  # a taken email, a weak password, a bad setting
        typer.secho(f"✗ {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
