"""``mdb-engine serve`` and ``mdb-engine new`` as real processes on loopback."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pymongo import MongoClient

from tests.cli.processes import CLI, free_port, get_json, read_line_with, stop

GARDEN = Path(__file__).resolve().parents[2] / "examples" / "garden"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def garden(tmp_path: Path) -> Path:
    copy = tmp_path / "garden"
    shutil.copytree(GARDEN, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_serve_runs_both_apps_each_in_its_sandbox(
    garden: Path, serve: Any, mongodb_uri: str, mongodb_database: str
) -> None:
    base = serve(garden, "--mongo-uri", mongodb_uri, "--db", mongodb_database)
    with httpx.Client(base_url=base, timeout=10) as client:
        assert [a["slug"] for a in client.get("/apps").json()["apps"]] == ["board", "notes"]
        assert client.post("/apps/board/cards", json={"title": "card"}).status_code == 201
        token = client.post(
            "/apps/notes/auth/register", json={"email": "a@example.com", "password": PASSWORD}
        ).json()["access_token"]
        client.cookies.clear()
        bearer = {"Authorization": f"Bearer {token}"}
        assert (
            client.post("/apps/notes/notes", json={"text": "mine"}, headers=bearer).status_code
            == 201
        )
        assert [n["text"] for n in client.get("/apps/notes/notes", headers=bearer).json()] == [
            "mine"
        ]
        assert [c["title"] for c in client.get("/apps/board/cards").json()] == ["card"]
        assert client.get("/apps/notes/notes").status_code == 401
        assert client.get("/ready").json()["status"] == "ready"
    mongo: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        database = mongo[mongodb_database]
        assert [d["app_id"] for d in database["board_items"].find()] == ["board"]
        assert [d["app_id"] for d in database["notes_items"].find()] == ["notes"]
    finally:
        mongo.close()


def test_two_workers_share_tokens_and_broadcasts_through_mongodb(
    garden: Path, serve: Any, mongodb_uri: str, mongodb_database: str
) -> None:
    base = serve(garden, "--mongo-uri", mongodb_uri, "--db", mongodb_database, "--workers", "2")
    asyncio.run(_exercise_two_workers(base))


async def _exercise_two_workers(base: str) -> None:
    async def fresh_get(path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:  # a new connection
            return await client.get(path, **kwargs)

    workers: set[int] = set()
    for _ in range(200):
        workers.add((await fresh_get("/apps/board/")).json()["worker"])
        if len(workers) == 2:
            break
    assert len(workers) == 2, "the second worker never answered"

    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        registered = await client.post(
            "/apps/notes/auth/register", json={"email": "w@example.com", "password": PASSWORD}
        )
    bearer = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    for _ in range(10):  # whichever worker answers knows the session
        assert (await fresh_get("/apps/notes/notes", headers=bearer)).status_code == 200

    async with websockets.connect(base.replace("http", "ws") + "/apps/board/events") as socket:
        creators: set[int] = set()
        created: list[dict[str, Any]] = []
        for attempt in range(100):
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                card = (
                    await client.post("/apps/board/cards", json={"title": f"c{attempt}"})
                ).json()
            created.append(card)
            creators.add(card["worker"])
            if len(creators) == 2:
                break
        assert len(creators) == 2, "one worker created every card"
        received: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while len(received) < len(created):
                message = json.loads(await socket.recv())
                if message.get("type") == "card":
                    received.append(message["card"])
        assert received == created  # the other worker's cards came through MongoDB, in order


def test_reload_picks_up_code_and_manifest_changes(
    garden: Path, serve: Any, mongodb_uri: str, mongodb_database: str
) -> None:
    base = serve(garden, "--mongo-uri", mongodb_uri, "--db", mongodb_database, "--reload")
    assert get_json(f"{base}/apps/board/")["app"] == "board"
    code = garden / "board" / "app.py"
    code.write_text(code.read_text().replace('"app": "board"', '"app": "board v2"'))
    manifest_path = garden / "board" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["managed_indexes"]["items"].append(
        {"type": "regular", "keys": {"title": 1}, "name": "by_title"}
    )
    manifest_path.write_text(json.dumps(manifest))
    deadline = time.monotonic() + 60
    mongo: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        while True:
            try:
                answer = get_json(f"{base}/apps/board/")["app"]
            except OSError:
                answer = None  # restarting
            indexes = mongo[mongodb_database]["board_items"].index_information()
            if answer == "board v2" and "by_title" in indexes:
                break
            assert time.monotonic() < deadline, f"not reloaded: {answer!r}, {sorted(indexes)}"
            time.sleep(0.3)
    finally:
        mongo.close()


def test_serve_starts_a_local_mongod_when_none_is_configured(
    tmp_path: Path, garden: Path, process_env: dict[str, str]
) -> None:
    port = free_port()
    env = {k: v for k, v in process_env.items() if k not in ("FLASK_SECRET_KEY",)}
    process = subprocess.Popen(
        [*CLI, "serve", str(garden), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        read_line_with(process.stdout, "Started a local MongoDB at", process)
        assert get_json(f"http://127.0.0.1:{port}/apps/board/")["app"] == "board"
        assert (tmp_path / ".mdb_engine" / "db").is_dir()
        secret_file = tmp_path / ".mdb_engine" / "secret_key"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        assert len(secret_file.read_text().strip()) >= 43
        uri = (tmp_path / ".mdb_engine" / "mongod.uri").read_text().strip()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            registered = client.post(
                "/apps/notes/auth/register", json={"email": "l@example.com", "password": PASSWORD}
            )
            assert registered.status_code == 201  # the tokens' secret was made for this folder
        mongo: MongoClient[dict[str, Any]] = MongoClient(uri)
        try:
            assert mongo["mdb_engine"]["notes_users"].count_documents({}) == 1
        finally:
            mongo.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert "Local MongoDB stopped." in process.stdout.read()
        assert not (tmp_path / ".mdb_engine" / "mongod.uri").exists()
    finally:
        stop(process)


def test_serve_refuses_a_missing_folder_and_reload_with_workers(
    tmp_path: Path, process_env: dict[str, str]
) -> None:
    missing = subprocess.run(
        [*CLI, "serve", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        env=process_env,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "does not exist or is not a folder" in missing.stderr
    assert "Traceback" not in missing.stderr
    both = subprocess.run(
        [*CLI, "serve", str(tmp_path), "--reload", "--workers", "2"],
        capture_output=True,
        text=True,
        env=process_env,
        timeout=60,
    )
    assert both.returncode == 2
    assert "--reload serves from one process" in both.stderr


def test_new_creates_an_app_that_serve_runs(
    tmp_path: Path, serve: Any, process_env: dict[str, str], mongodb_uri: str, mongodb_database: str
) -> None:
    apps = tmp_path / "apps"
    created = subprocess.run(
        [*CLI, "new", "todo", "--dir", str(apps)],
        capture_output=True,
        text=True,
        env=process_env,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert "Created" in created.stdout
    assert "mdb-engine serve" in created.stdout
    base = serve(apps, "--mongo-uri", mongodb_uri, "--db", mongodb_database)
    with httpx.Client(base_url=base, timeout=10) as client:
        item = client.post("/apps/todo/items", json={"title": "first"})
        assert item.status_code == 201
        assert client.get("/apps/todo/items").json() == [item.json()]
    again = subprocess.run(
        [*CLI, "new", "todo", "--dir", str(apps)],
        capture_output=True,
        text=True,
        env=process_env,
        timeout=60,
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr
