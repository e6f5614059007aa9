"""``mdb-engine mongod`` and ``mdb-engine run`` as real processes on loopback."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from tests.cli.processes import CLI, free_port, get_json, read_line_with, stop

APP = """
import os
from fastapi import FastAPI
from mdb_engine import MongoDBEngine

app = FastAPI()
engine = MongoDBEngine(db_name="cli_run_test")

@app.on_event("startup")
async def startup():
    await engine.initialize()

@app.on_event("shutdown")
async def shutdown():
    await engine.shutdown()

@app.get("/where")
async def where():
    await engine.register_app({"schema_version": "2.0", "slug": "cli_app", "name": "CLI"})
    await engine.get_scoped_db("cli_app").hits.insert_one({"hit": 1})
    return {"uri": os.environ["MDB_ENGINE_MONGO_URI"]}

@app.get("/secret")
async def secret():
    return {"secret": os.environ.get("MDB_ENGINE_SECRET_KEY")}
"""


def mongod_gone(pid: int) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True
        if "State:\tZ" in status:
            return True
        time.sleep(0.1)
    return False


def server_pid(uri: str) -> int:
    client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        return int(client.admin.command("serverStatus")["pid"])
    finally:
        client.close()


def test_mongod_command_runs_until_terminated(tmp_path: Path, process_env: dict[str, str]) -> None:
    port = free_port()
    data_dir = tmp_path / "db"
    process = subprocess.Popen(
        [*CLI, "mongod", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=process_env,
    )
    try:
        assert process.stdout is not None
        line = read_line_with(process.stdout, "MongoDB is running:", process)
        uri = line.split("MongoDB is running:", 1)[1].strip()
        assert uri == f"mongodb://127.0.0.1:{port}/?replicaSet=rs0"
        pid = server_pid(uri)
        assert (data_dir / "mongod.log").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert mongod_gone(pid)
    finally:
        stop(process)


def test_run_starts_a_local_mongod_when_none_is_configured(
    tmp_path: Path, process_env: dict[str, str]
) -> None:
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "run", "app:app", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=process_env,
    )
    try:
        reply = get_json(f"http://127.0.0.1:{port}/where")
        uri = reply["uri"]
        assert uri.startswith("mongodb://127.0.0.1:")
        assert (tmp_path / ".mdb_engine" / "db").is_dir()
        pid = server_pid(uri)
        client: MongoClient[dict[str, Any]] = MongoClient(uri)
        try:
            stored = client["cli_run_test"]["cli_app_hits"].find_one({}, {"_id": 0})
            assert stored == {"hit": 1, "app_id": "cli_app"}
        finally:
            client.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert mongod_gone(pid)
        assert process.stdout is not None
        assert "Local MongoDB stopped." in process.stdout.read()
    finally:
        stop(process)


def test_run_uses_a_configured_mongodb(
    tmp_path: Path, process_env: dict[str, str], mongodb_uri: str
) -> None:
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "run", "app:app", "--port", str(port), "--mongo-uri", mongodb_uri],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=process_env,
    )
    try:
        assert get_json(f"http://127.0.0.1:{port}/where") == {"uri": mongodb_uri}
        assert not (tmp_path / ".mdb_engine" / "db").exists()
        # No secret configured: one is created once and given to the app (as `serve` does).
        secret_file = tmp_path / ".mdb_engine" / "secret_key"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        secret = get_json(f"http://127.0.0.1:{port}/secret")["secret"]
        assert secret == secret_file.read_text().strip()
        assert len(secret) >= 32
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        stop(process)
        client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
        client.drop_database("cli_run_test")
        client.close()
