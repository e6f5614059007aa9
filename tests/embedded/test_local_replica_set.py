"""LocalReplicaSet against real mongods: one primary, a kill and an election, a restart, stop."""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient, ReadPreference
from pymongo.write_concern import WriteConcern

from mdb_engine.embedded import LocalReplicaSet
from mdb_engine.errors import EmbeddedMongoError
from tests.embedded.pids import is_alive, wait_until_gone


def quick_set() -> LocalReplicaSet:
    """3 members with quick elections: one is called after 2 s without a heartbeat."""
    return LocalReplicaSet(members=3, election_timeout_ms=2000, heartbeat_interval_ms=500)


def data_dir_of(pid: int) -> Path:
    """The ``--dbpath`` of the mongod ``pid``."""
    arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return Path(arguments[arguments.index(b"--dbpath") + 1].decode())


def direct(host: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(host, directConnection=True, serverSelectionTimeoutMS=10_000)


def client_of(replica_set: LocalReplicaSet) -> MongoClient[dict[str, Any]]:
    return MongoClient(replica_set.uri, serverSelectionTimeoutMS=30_000)


@pytest.fixture(scope="module")
def replica_set() -> Iterator[LocalReplicaSet]:
    with quick_set() as running:
        yield running


def test_starts_three_members_with_one_primary(replica_set: LocalReplicaSet) -> None:
    hosts = replica_set.hosts
    assert len(set(hosts)) == 3
    assert all(host.startswith("127.0.0.1:") for host in hosts)
    assert replica_set.uri == f"mongodb://{','.join(hosts)}/?replicaSet=rs0"
    states = sorted(replica_set.state(member) for member in range(3))
    assert states == ["PRIMARY", "SECONDARY", "SECONDARY"]
    primary = replica_set.primary()
    assert primary is not None
    assert replica_set.wait_for_primary(timeout=5) == primary

    with client_of(replica_set) as client:
        config = client.admin.command("replSetGetConfig")["config"]
        assert [member["host"] for member in config["members"]] == hosts
        assert config["settings"]["electionTimeoutMillis"] == 2000
        assert config["settings"]["heartbeatIntervalMillis"] == 500
        # Every member holds a write acknowledged by all three.
        everyone = client.test.get_collection("everyone", write_concern=WriteConcern(w=3))
        everyone.insert_one({"_id": "all"})
    for host in hosts:
        with direct(host) as member:
            copy = member.test.get_collection("everyone", read_preference=ReadPreference.NEAREST)
            assert copy.find_one({"_id": "all"}) == {"_id": "all"}


def test_kill_elects_a_new_primary_and_restart_rejoins(replica_set: LocalReplicaSet) -> None:
    old_primary = replica_set.wait_for_primary()
    old_pid = replica_set.pid(old_primary)
    assert old_pid is not None
    old_host = replica_set.host(old_primary)

    replica_set.kill(old_primary)
    assert not is_alive(old_pid)
    assert not replica_set.is_running(old_primary)
    assert replica_set.pid(old_primary) is None
    assert replica_set.state(old_primary) == "DOWN"

    new_primary = replica_set.wait_for_primary(timeout=60)
    assert new_primary != old_primary
    with client_of(replica_set) as client:
        # Two of three members acknowledge: the default majority write concern holds.
        client.test.after_kill.insert_one({"_id": "while-down"})

    replica_set.restart(old_primary)
    assert replica_set.host(old_primary) == old_host  # same port: the set's config names it
    new_pid = replica_set.pid(old_primary)
    assert new_pid is not None
    assert new_pid != old_pid
    replica_set.wait_for_state(old_primary, "SECONDARY", timeout=60)
    # It caught up with what was written while it was down.
    with direct(old_host) as member:
        rejoined = member.test.get_collection("after_kill", read_preference=ReadPreference.NEAREST)
        deadline = time.monotonic() + 30
        while rejoined.find_one({"_id": "while-down"}) is None:
            assert time.monotonic() < deadline, "the restarted member never caught up"
            time.sleep(0.1)


def test_misuse_is_refused_with_a_clear_error(replica_set: LocalReplicaSet) -> None:
    primary = replica_set.wait_for_primary()
    with pytest.raises(EmbeddedMongoError, match="is running; kill it first"):
        replica_set.restart(primary)
    with pytest.raises(IndexError, match="members are 0 to 2"):
        replica_set.kill(3)
    with pytest.raises(EmbeddedMongoError, match="not started"):
        LocalReplicaSet().kill(0)
    with pytest.raises(EmbeddedMongoError, match="not started"):
        _ = LocalReplicaSet().uri
    with pytest.raises(ValueError, match="at least 1 member"):
        LocalReplicaSet(members=0)


def test_stop_ends_every_member_and_removes_the_data() -> None:
    replica_set = quick_set()
    with replica_set:
        pids = [replica_set.pid(member) for member in range(3)]
        assert None not in pids
        data_dirs = [data_dir_of(pid) for pid in pids if pid is not None]
        assert all(path.is_dir() for path in data_dirs)
        secondary = next(m for m in range(3) if replica_set.state(m) == "SECONDARY")
        replica_set.kill(secondary)  # a killed member is stopped cleanly too
    assert all(wait_until_gone(pid) for pid in pids if pid is not None)
    assert not any(path.exists() for path in data_dirs)
    assert not data_dirs[0].parent.exists()
    assert "stopped" in repr(replica_set)


CHILD_SCRIPT = textwrap.dedent(
    """
    import sys
    from mdb_engine.embedded import LocalReplicaSet

    replica_set = LocalReplicaSet(members=3, election_timeout_ms=2000)
    replica_set.start()
    pids = [replica_set.pid(member) for member in range(3)]
    print(*pids, flush=True)
    sys.stdin.read()
    """
)


def test_no_member_outlives_a_killed_parent() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    root: Path | None = None
    try:
        assert child.stdout is not None
        readable, _, _ = select.select([child.stdout], [], [], 120)
        assert readable, "the child did not start its replica set in time"
        pids = [int(pid) for pid in child.stdout.readline().split()]
        assert len(pids) == 3
        assert all(is_alive(pid) for pid in pids)
        root = data_dir_of(pids[0]).parent
        child.kill()
        child.wait()
        assert all(wait_until_gone(pid) for pid in pids), "a member outlived its parent"
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
        if root is not None:  # a SIGKILLed parent leaves the data behind (documented)
            shutil.rmtree(root, ignore_errors=True)
