"""LocalMongod against a real mongod: lifecycle, replica set, restarts, orphans, failures."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

from mdb_engine.embedded import LocalMongod
from mdb_engine.embedded import process as process_module
from mdb_engine.errors import EmbeddedMongoError, MongodNotFound, MongodStartError
from tests.embedded.pids import is_alive, wait_until_gone


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def free_port(avoid: int | None = None) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port != avoid:
            return port


def client_for(mongod: LocalMongod) -> MongoClient[dict[str, Any]]:
    return MongoClient(mongod.uri, serverSelectionTimeoutMS=10_000)


@pytest.fixture(scope="module")
def shared_mongod() -> Iterator[LocalMongod]:
    with LocalMongod() as mongod:
        yield mongod


def test_sync_context_manager_runs_a_replica_set() -> None:
    mongod = LocalMongod()
    with mongod as running:
        assert running is mongod
        assert mongod.is_running
        assert mongod.port is not None
        assert mongod.uri == f"mongodb://127.0.0.1:{mongod.port}/?replicaSet=rs0"
        data_dir = mongod.data_dir
        assert data_dir is not None
        assert data_dir.is_dir()
        assert mongod.pid is not None
        assert is_alive(mongod.pid)
        pid = mongod.pid
        with client_for(mongod) as client:
            assert client.admin.command("ping")["ok"] == 1
            assert client.admin.command("hello")["isWritablePrimary"] is True
            status = client.admin.command("replSetGetStatus")
            assert status["set"] == "rs0"
            assert [member["name"] for member in status["members"]] == [f"127.0.0.1:{mongod.port}"]
            tasks = client.test_db.tasks
            with client.start_session() as session:
                session.with_transaction(
                    lambda s: tasks.insert_one({"title": "in a transaction"}, session=s)
                )
            assert tasks.count_documents({}) == 1

    assert not mongod.is_running
    assert not data_dir.exists()
    assert not is_alive(pid)
    assert mongod.pid is None
    with pytest.raises(EmbeddedMongoError, match="not started"):
        _ = mongod.uri
    mongod.stop()
    mongod.stop()


async def test_async_context_manager_does_not_block_the_loop() -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        async with LocalMongod() as mongod:
            assert ticks >= 10  # astart takes about a second; a blocked loop ticks once
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongod.uri)
            try:
                assert (await client.admin.command("hello"))["isWritablePrimary"] is True
            finally:
                await client.close()
            ticks_before_stop = ticks
            await mongod.astop()
            assert ticks > ticks_before_stop
            assert not mongod.is_running
    finally:
        ticker.cancel()


async def test_cancelled_astart_leaves_no_mongod() -> None:
    mongod = LocalMongod()
    starting = asyncio.create_task(mongod.astart())
    while mongod.pid is None:
        assert not starting.done()
        await asyncio.sleep(0.005)
    pid = mongod.pid
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert await asyncio.to_thread(wait_until_gone, pid)


def test_two_instances_at_once(shared_mongod: LocalMongod) -> None:
    with LocalMongod() as other:
        assert other.port != shared_mongod.port
        assert other.pid != shared_mongod.pid
        with client_for(shared_mongod) as first, client_for(other) as second:
            first.two.items.insert_one({"owner": "first"})
            second.two.items.insert_one({"owner": "second"})
            assert [doc["owner"] for doc in first.two.items.find()] == ["first"]
            assert [doc["owner"] for doc in second.two.items.find()] == ["second"]
    assert shared_mongod.is_running


def test_persistent_data_dir_survives_a_restart_on_another_port(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "nested"
    with LocalMongod(data_dir=data_dir) as first:
        first_port = first.port
        with client_for(first) as client:
            client.keep.notes.insert_one({"text": "still here"})

    assert (data_dir / "mongod.log").exists()
    with LocalMongod(data_dir=data_dir, port=free_port(avoid=first_port)) as second:
        assert second.port != first_port
        with client_for(second) as client:
            assert client.admin.command("hello")["isWritablePrimary"] is True
            assert client.keep.notes.find_one({}, {"_id": 0}) == {"text": "still here"}
            members = client.admin.command("replSetGetConfig")["config"]["members"]
            assert [member["host"] for member in members] == [f"127.0.0.1:{second.port}"]
    assert data_dir.is_dir()


CHILD_SCRIPT = textwrap.dedent(
    """
    import subprocess
    import sys
    from mdb_engine.embedded import LocalMongod

    mongod = LocalMongod()
    mongod.start()
    # A grandchild that keeps every inheritable descriptor: it must not hold the guardian's
    # pipe open, or the guardian would never see end of file.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               close_fds=False)
    print(mongod.pid, mongod.data_dir, sleeper.pid, flush=True)
    sys.stdin.read()
    """
)


def test_no_orphan_mongod_when_the_parent_is_killed() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    sleeper_pid = None
    try:
        assert child.stdout is not None
        readable, _, _ = select.select([child.stdout], [], [], 60)
        assert readable, "the child did not start mongod in time"
        pid_text, data_dir, sleeper_text = child.stdout.readline().split()
        pid, sleeper_pid = int(pid_text), int(sleeper_text)
        assert is_alive(pid)
        child.kill()
        child.wait()
        assert wait_until_gone(pid), f"mongod {pid} outlived its SIGKILLed parent"
        deadline = time.monotonic() + 5
        while Path(data_dir).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(data_dir).exists()
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
        if sleeper_pid is not None:
            os.kill(sleeper_pid, signal.SIGKILL)


def test_killing_the_guardian_stops_mongod() -> None:
    with LocalMongod() as mongod:
        assert mongod.pid is not None
        pid = mongod.pid
        guardian_pid = parent_pid(pid)
        assert guardian_pid != os.getpid()
        os.kill(guardian_pid, signal.SIGKILL)
        assert wait_until_gone(pid), "mongod outlived its SIGKILLed guardian"
        deadline = time.monotonic() + 5
        while mongod.is_running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not mongod.is_running


def test_invalid_option_raises_start_error_with_console_output() -> None:
    with pytest.raises(MongodStartError, match="exited with status") as caught:
        LocalMongod(cache_size_gb=-1).start()
    assert "cacheSizeGB must be greater than or equal to 0.25" in str(caught.value)


def test_data_dir_that_is_a_file_raises_start_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(MongodStartError, match="data_dir"):
        LocalMongod(data_dir=not_a_dir).start()


def test_data_dir_in_use_raises_start_error_with_log_tail(shared_mongod: LocalMongod) -> None:
    second = LocalMongod(data_dir=shared_mongod.data_dir)
    with pytest.raises(MongodStartError, match="exited with status") as caught:
        second.start()
    assert "DBPathInUse" in str(caught.value)
    assert "last lines of" in str(caught.value)
    assert not second.is_running
    assert shared_mongod.is_running


def test_port_in_use_raises_start_error(shared_mongod: LocalMongod) -> None:
    with pytest.raises(MongodStartError, match=f"port {shared_mongod.port} is already used"):
        LocalMongod(port=shared_mongod.port).start()
    with client_for(shared_mongod) as client:
        assert client.admin.command("ping")["ok"] == 1


def test_port_taken_before_mongod_binds_it_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, free_port(avoid=taken)])
        monkeypatch.setattr(process_module, "free_loopback_port", lambda: next(ports))
        with LocalMongod() as mongod:
            assert mongod.port != taken
            with client_for(mongod) as client:
                assert client.admin.command("hello")["isWritablePrimary"] is True


def test_startup_timeout_raises_start_error() -> None:
    with pytest.raises(MongodStartError, match="not a writable primary within"):
        LocalMongod(startup_timeout=0.2).start()


def test_bad_mongod_path_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(MongodNotFound, match="does not exist"):
        LocalMongod(mongod_path=tmp_path / "mongod").start()


def test_idle_file_handles_are_closed_early(shared_mongod: LocalMongod) -> None:
    # Suites that create thousands of collections would otherwise hit the open-file limit,
    # which makes WiredTiger panic and mongod abort.
    with client_for(shared_mongod) as client:
        options = client.admin.command("getCmdLineOpts")["parsed"]
    engine_config = options["storage"]["wiredTiger"]["engineConfig"]["configString"]
    assert engine_config == "file_manager=(close_idle_time=30,close_scan_interval=10)"
