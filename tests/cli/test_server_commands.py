"""``mdb-engine mongod`` and ``mdb-engine run`` as real processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import pytest
from pymongo import MongoClient

CLI = [sys.executable, "-m", "mdb_engine.cli"]

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
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_line_with(stream: IO[str], needle: str, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 90
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} never printed; output:\n{''.join(seen)}")


def get_json(url: str) -> Any:
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


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


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def process_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDB_ENGINE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


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
        assert not (tmp_path / ".mdb_engine").exists()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        stop(process)
        client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
        client.drop_database("cli_run_test")
        client.close()
