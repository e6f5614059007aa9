"""`create_host_app`: a folder of apps served side by side, each in its own sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from mdb_engine.host import create_host_app
from tests.host.conftest import Host

PASSWORD = "correct horse battery staple"


async def register(client: Any, slug: str, email: str) -> dict[str, str]:
    response = await client.post(
        f"/apps/{slug}/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    client.cookies.clear()  # the tests send bearer tokens: cookies would hide a missing one
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_both_apps_are_served_under_their_slug(garden: Path, host: Host) -> None:
    _, client = await host(garden)
    listed = (await client.get("/apps")).json()["apps"]
    assert [(app["slug"], app["url"]) for app in listed] == [
        ("board", "/apps/board/"),
        ("notes", "/apps/notes/"),
    ]
    assert (await client.get("/apps/board/")).json()["app"] == "board"
    assert (await client.get("/apps/notes/")).json()["app"] == "notes"
    home = await client.get("/")
    assert 'href="/apps/board/"' in home.text
    assert 'href="/apps/notes/"' in home.text


async def test_an_apps_requests_skip_the_hosts_middleware(garden: Path, host: Host) -> None:
    """A request for /apps/<slug>/… runs in that app's own stack only (one request id, one
    set of error handlers); the host's own routes and the slash redirect keep the host's."""
    app, client = await host(garden)
    seen: list[str] = []

    class Recorder:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await self.inner(scope, receive, send)

    app.user_middleware.insert(0, Middleware(Recorder))
    app.middleware_stack = None
    board = await client.get("/apps/board/cards")
    assert board.status_code == 200
    assert len(board.headers.get_list("x-request-id")) == 1
    assert (await client.get("/apps/notes/")).json()["app"] == "notes"
    assert seen == []
    assert (await client.get("/apps")).status_code == 200
    redirect = await client.get("/apps/board", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/apps/board/")
    assert (await client.get("/apps/nothing/")).status_code == 404
    assert seen == ["/apps", "/apps/board", "/apps/nothing/"]


async def test_apps_write_the_same_name_into_separate_sandboxes(
    garden: Path, host: Host, mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str
) -> None:
    _, client = await host(garden)
    card = await client.post("/apps/board/cards", json={"title": "shared card"})
    assert card.status_code == 201
    alice = await register(client, "notes", "alice@example.com")
    bob = await register(client, "notes", "bob@example.com")
    assert (await client.post("/apps/notes/notes", json={"text": "a"}, headers=alice)).is_success

    assert [c["title"] for c in (await client.get("/apps/board/cards")).json()] == ["shared card"]
    assert [n["text"] for n in (await client.get("/apps/notes/notes", headers=alice)).json()] == [
        "a"
    ]
    assert (await client.get("/apps/notes/notes", headers=bob)).json() == []
    assert (await client.get("/apps/notes/notes")).status_code == 401

    database = mongo_client[mongodb_database]
    assert {d["app_id"] async for d in database["board_items"].find()} == {"board"}
    assert {d["app_id"] async for d in database["notes_items"].find()} == {"notes"}
    assert "items" not in await database.list_collection_names()


async def test_a_token_of_one_app_is_refused_by_another(
    tmp_path: Path, garden: Path, host: Host
) -> None:
    second = garden / "journal"
    second.mkdir()
    manifest = json.loads((garden / "notes" / "manifest.json").read_text())
    manifest.update(slug="journal", name="Journal")
    (second / "manifest.json").write_text(json.dumps(manifest))
    (second / "app.py").write_text((garden / "notes" / "app.py").read_text())
    _, client = await host(garden)
    alice = await register(client, "notes", "alice@example.com")
    assert (await client.get("/apps/notes/notes", headers=alice)).status_code == 200
    assert (await client.get("/apps/journal/notes", headers=alice)).status_code == 401


async def test_indexes_declared_by_each_app_exist(
    garden: Path, host: Host, mongo_client: AsyncMongoClient[dict[str, Any]], mongodb_database: str
) -> None:
    await host(garden)
    database = mongo_client[mongodb_database]
    assert "newest_first" in await database["board_items"].index_information()
    assert "owner_newest" in await database["notes_items"].index_information()
    assert "email_unique" in await database["notes_users"].index_information()


async def test_a_broken_app_is_reported_and_the_others_are_served(garden: Path, host: Host) -> None:
    broken = garden / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"schema_version": "2.0", "slug": "Bad Slug"}')
    crashing = garden / "crashing"
    crashing.mkdir()
    (crashing / "manifest.json").write_text(
        json.dumps({"schema_version": "2.0", "slug": "crashing", "name": "Crashing"})
    )
    (crashing / "app.py").write_text("raise RuntimeError('boom at import')\n")
    app, client = await host(garden)

    errors = app.state.mdb_host.load_errors
    assert set(errors) == {"broken", "crashing"}
    assert "slug" in errors["broken"]
    assert "boom at import" in errors["crashing"]
    assert "RuntimeError" in errors["crashing"]
    failed = [a for a in (await client.get("/apps")).json()["apps"] if a["status"] == "failed"]
    assert {a["name"] for a in failed} == {"broken", "crashing"}
    assert (await client.get("/apps/board/cards")).status_code == 200
    # A broken app.py leaves nothing registered: its manifest was not applied.
    assert "crashing" not in app.state.mdb_host.engine.list_apps()


async def test_an_inactive_app_is_registered_but_not_served(garden: Path, host: Host) -> None:
    manifest_path = garden / "board" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["status"] = "draft"
    manifest_path.write_text(json.dumps(manifest))
    app, client = await host(garden)
    assert (await client.get("/apps/board/cards")).status_code == 404
    listed = {a["slug"]: a for a in (await client.get("/apps")).json()["apps"]}
    assert listed["board"] == {"slug": "board", "name": "Board", "status": "draft", "url": None}
    assert "board" in app.state.mdb_host.engine.list_apps()


async def test_an_app_without_code_is_served_from_its_manifest(tmp_path: Path, host: Host) -> None:
    folder = tmp_path / "apps" / "plain"
    folder.mkdir(parents=True)
    manifest = {
        "schema_version": "2.0",
        "slug": "plain",
        "name": "Plain",
        "observability": {"enabled": True},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _, client = await host(tmp_path / "apps")
    assert (await client.get("/apps/plain/health")).json() == {"status": "alive"}
    assert (await client.get("/apps/plain/ready")).json()["status"] == "ready"


async def test_each_app_gets_only_its_own_websocket_routes(garden: Path, host: Host) -> None:
    app, _ = await host(garden)
    hosted = app.state.mdb_host.apps
    board_paths = {getattr(r, "path", None) for r in hosted["board"].app.router.routes}
    notes_paths = {getattr(r, "path", None) for r in hosted["notes"].app.router.routes}
    assert "/events" in board_paths
    assert "/events" not in notes_paths


def test_websocket_clients_get_each_new_card(
    garden: Path, mongodb_uri: str, mongodb_database: str
) -> None:
    app = create_host_app(garden, mongo_uri=mongodb_uri, db_name=mongodb_database, admin=False)
    with TestClient(app) as client, client.websocket_connect("/apps/board/events") as socket:
        created = client.post("/apps/board/cards", json={"title": "live"}).json()
        message = socket.receive_json()
        while message.get("type") != "card":  # keep-alive pings may come first
            message = socket.receive_json()
        assert message["card"] == created


async def test_an_app_module_runs_its_own_lifespan(tmp_path: Path, host: Host) -> None:
    folder = tmp_path / "apps" / "lively"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(
        json.dumps({"schema_version": "2.0", "slug": "lively", "name": "Lively"})
    )
    (folder / "app.py").write_text(
        "from contextlib import asynccontextmanager\n"
        "from fastapi import FastAPI\n"
        "events = []\n"
        "@asynccontextmanager\n"
        "async def lifespan(app):\n"
        "    events.append('start')\n"
        "    yield\n"
        "app = FastAPI(lifespan=lifespan)\n"
        "@app.get('/events')\n"
        "async def seen():\n"
        "    return events\n"
    )
    _, client = await host(tmp_path / "apps")
    assert (await client.get("/apps/lively/events")).json() == ["start"]


async def test_two_folders_with_one_slug_serve_the_first(garden: Path, host: Host) -> None:
    twin = garden / "z_board_twin"
    twin.mkdir()
    (twin / "manifest.json").write_text((garden / "board" / "manifest.json").read_text())
    app, client = await host(garden)
    assert "already served" in app.state.mdb_host.load_errors["z_board_twin"]
    assert (await client.get("/apps/board/cards")).status_code == 200


@pytest.mark.parametrize("missing", ["nowhere", "file.txt"])
def test_a_missing_apps_folder_is_a_clear_error(tmp_path: Path, missing: str) -> None:
    from mdb_engine.errors import ConfigurationError
    from mdb_engine.host import discover_app_folders

    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(ConfigurationError, match="does not exist or is not a folder"):
        discover_app_folders(tmp_path / missing)


async def test_the_host_serves_the_admin_console_with_its_failed_apps(
    garden: Path, host: Host
) -> None:
    from mdb_engine.host.admin import AdminAccounts
    from tests.host.admin.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, log_in

    broken = garden / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"schema_version": "2.0", "slug": "Bad Slug"}')
    app, client = await host(garden, admin=True)
    assert (await client.get("/admin/")).status_code in (302, 303)
    await AdminAccounts(app.state.mdb_host.engine).create(ADMIN_EMAIL, ADMIN_PASSWORD)
    logged_in = await log_in(client)
    assert logged_in.status_code in (302, 303), logged_in.text
    apps_page = (await client.get("/admin/")).text
    assert "board" in apps_page
    assert "notes" in apps_page
    assert "broken" in apps_page  # the folder that failed to load, with its error
    assert "failed" in apps_page.lower()
