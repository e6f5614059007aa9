"""A local replica set of several mongod processes, for failover tests and benchmarks."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mdb_engine.embedded._os import POLL_INTERVAL, accepts_connections, wait_until_gone
from mdb_engine.embedded.process import LocalMongod
from mdb_engine.errors import EmbeddedMongoError, MongodStartError

__all__ = ["LocalReplicaSet"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_KILL_TIMEOUT = 10.0
_PROBE_TIMEOUT_MS = 1000


class _Member(LocalMongod):
    """A mongod that waits to be made part of a set, instead of making itself a primary."""

    def _wait_until_primary(self, port: int, deadline: float, abort: threading.Event) -> None:
        # LocalMongod initiates (or re-homes) a single-node set here; a member of a larger set
        # must not, so it only waits until its own mongod answers. The set initiates itself.
        last_problem = "mongod did not accept connections"
        client: MongoClient[dict[str, Any]] | None = None
        try:
            while True:
                self._check_progress(deadline, abort, last_problem)
                if client is None and accepts_connections(port):
                    client = _direct_client(f"127.0.0.1:{port}")
                if client is not None:
                    try:
                        self._check_server_is_ours(client, port)
                        client.admin.command(
                            "setParameter", 1, shutdownTimeoutMillisForSignaledShutdown=0
                        )
                        return
                    except PyMongoError as exc:
                        last_problem = f"{type(exc).__name__}: {exc}"
                time.sleep(POLL_INTERVAL)
        finally:
            if client is not None:
                client.close()


class LocalReplicaSet:
    """``members`` mongod child processes on 127.0.0.1 forming one replica set.

    Each member runs under the same guardian as :class:`LocalMongod`, so it stops when this
    process stops or dies. Members are numbered from 0; :meth:`kill` SIGKILLs one (a crash)
    and :meth:`restart` starts it again on its port and data, where it rejoins the set.
    ``election_timeout_ms`` and ``heartbeat_interval_ms`` are the set's
    ``electionTimeoutMillis`` and ``heartbeatIntervalMillis``; the defaults are MongoDB's, so
    a failover takes as long as on a real deployment (tests pass smaller values).

    The data directories live under one temporary directory, removed by :meth:`stop`; a
    parent killed by SIGKILL leaves it behind (its mongods still stop).
    """

    def __init__(
        self,
        members: int = 3,
        *,
        mongod_path: str | os.PathLike[str] | None = None,
        replica_set: str = "rs0",
        election_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 2_000,
        startup_timeout: float = 120.0,
        cache_size_gb: float = 0.25,
    ) -> None:
        if members < 1:
            raise ValueError(f"a replica set needs at least 1 member, got {members}")
        self._size = members
        self._mongod_path = mongod_path
        self._replica_set = replica_set
        self._election_timeout_ms = election_timeout_ms
        self._heartbeat_interval_ms = heartbeat_interval_ms
        self._startup_timeout = startup_timeout
        self._cache_size_gb = cache_size_gb
        self._lock = threading.Lock()
        self._members: list[_Member] = []
        self._ports: list[int] = []  # kept across kills and restarts: the set's config names them
        self._root: Path | None = None

    @property
    def uri(self) -> str:
        """``mongodb://127.0.0.1:<port>,…/?replicaSet=<name>``, every member; while started."""
        return f"mongodb://{','.join(self.hosts)}/?replicaSet={self._replica_set}"

    @property
    def hosts(self) -> list[str]:
        """Each member's ``127.0.0.1:<port>``, by member number; while started."""
        return [self.host(member) for member in range(self._size)]

    @property
    def size(self) -> int:
        """How many members the set has (running or not)."""
        return self._size

    def host(self, member: int) -> str:
        """``127.0.0.1:<port>`` of ``member``; its port stays the same across restarts."""
        self._member(member)  # checks the number
        return f"127.0.0.1:{self._ports[member]}"

    def pid(self, member: int) -> int | None:
        """The process id of ``member``'s mongod, None while it is not running."""
        process = self._member(member)
        return process.pid if process.is_running else None

    def is_running(self, member: int) -> bool:
        """Whether ``member``'s mongod runs."""
        return self._member(member).is_running

    def start(self) -> str:
        """Start every member, initiate the set, wait for a primary and secondaries; the URI."""
        with self._lock:
            if self._members:
                return self.uri
            self._root = Path(tempfile.mkdtemp(prefix="mdb-engine-replica-set-"))
            self._members = [self._new_member(number) for number in range(self._size)]
            try:
                _in_parallel([member.start for member in self._members])
                self._ports = [member.port or 0 for member in self._members]
                self._initiate()
                deadline = time.monotonic() + self._startup_timeout
                self._wait_until(deadline, "a primary and secondaries", self._is_settled)
            except BaseException:
                self._stop_locked()
                raise
            logger.info("replica set %r ready at %s", self._replica_set, self.uri)
            return self.uri

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every member (SIGTERM, then SIGKILL after ``timeout``) and remove the data."""
        with self._lock:
            self._stop_locked(timeout)

    def kill(self, member: int) -> None:
        """SIGKILL ``member``'s mongod, as a crash would, and wait until it is gone."""
        process = self._member(member)
        pid = process.pid
        if pid is None or not process.is_running:
            raise EmbeddedMongoError(f"member {member} is not running")
        os.kill(pid, signal.SIGKILL)
        wait_until_gone(pid, pid, _KILL_TIMEOUT)  # a SIGKILLed process has nothing to wait for
        process.stop(0.0)  # reaps the guardian, which exits with its mongod; keeps the data
        logger.info("member %d (%s, pid %d) killed", member, self.host(member), pid)

    def restart(self, member: int) -> None:
        """Start ``member`` again on its port and data directory; it rejoins the set by itself
        (see :meth:`wait_for_state`)."""
        with self._lock:
            old = self._member(member)
            if old.is_running:
                raise EmbeddedMongoError(f"member {member} is running; kill it first")
            old.stop(0.0)
            restarted = self._new_member(member, port=self._ports[member])
            restarted.start()
            self._members[member] = restarted

    def state(self, member: int) -> str:
        """What ``member`` says it is: ``PRIMARY``, ``SECONDARY``, ``OTHER`` (starting,
        recovering, rolling back) or ``DOWN`` (not running or not answering)."""
        if not self.is_running(member):
            return "DOWN"
        client = _direct_client(self.host(member))
        try:
            hello = client.admin.command("hello")
        except PyMongoError:
            return "DOWN"
        finally:
            client.close()
        if hello.get("isWritablePrimary"):
            return "PRIMARY"
        return "SECONDARY" if hello.get("secondary") else "OTHER"

    def primary(self) -> int | None:
        """The member that is a writable primary right now, or None during an election."""
        for member in range(self._size):
            if self.state(member) == "PRIMARY":
                return member
        return None

    def wait_for_primary(self, timeout: float = 60.0) -> int:
        """Wait until a member is a writable primary and return it."""
        found: list[int] = []

        def has_primary() -> bool:
            member = self.primary()
            if member is not None:
                found.append(member)
            return member is not None

        self._wait_until(time.monotonic() + timeout, "a primary", has_primary)
        return found[-1]

    def wait_for_state(self, member: int, state: str, timeout: float = 60.0) -> None:
        """Wait until ``member`` is in ``state`` (see :meth:`state`)."""
        self._wait_until(
            time.monotonic() + timeout,
            f"member {member} {state}",
            lambda: self.state(member) == state,
        )

    def __enter__(self) -> LocalReplicaSet:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        if not self._members:
            return f"<LocalReplicaSet {self._replica_set} of {self._size}, stopped>"
        return f"<LocalReplicaSet {self._replica_set} at {self.uri}>"

    def _member(self, member: int) -> _Member:
        if not self._members:
            raise EmbeddedMongoError("LocalReplicaSet is not started; call start() first")
        if not 0 <= member < self._size:
            raise IndexError(f"no member {member}: members are 0 to {self._size - 1}")
        return self._members[member]

    def _new_member(self, number: int, port: int | None = None) -> _Member:
        assert self._root is not None
        return _Member(
            mongod_path=self._mongod_path,
            data_dir=self._root / f"member-{number}",
            port=port,
            replica_set=self._replica_set,
            startup_timeout=self._startup_timeout,
            cache_size_gb=self._cache_size_gb,
        )

    def _initiate(self) -> None:
        config = {
            "_id": self._replica_set,
            "members": [{"_id": number, "host": host} for number, host in enumerate(self.hosts)],
            "settings": {
                "electionTimeoutMillis": self._election_timeout_ms,
                "heartbeatIntervalMillis": self._heartbeat_interval_ms,
            },
        }
        client = _direct_client(self.host(0))
        try:
            client.admin.command("replSetInitiate", config)
        except PyMongoError as exc:
            raise MongodStartError(f"replSetInitiate failed: {exc}") from exc
        finally:
            client.close()

    def _is_settled(self) -> bool:
        states = sorted(self.state(member) for member in range(self._size))
        return states == sorted(["PRIMARY"] + ["SECONDARY"] * (self._size - 1))

    def _wait_until(self, deadline: float, what: str, condition: Callable[[], bool]) -> None:
        while not condition():
            if time.monotonic() > deadline:
                states = {member: self.state(member) for member in range(self._size)}
                raise EmbeddedMongoError(f"timed out waiting for {what}; member states: {states}")
            time.sleep(POLL_INTERVAL * 4)

    def _stop_locked(self, timeout: float = 10.0) -> None:
        members, self._members, self._ports = self._members, [], []
        _in_parallel([functools.partial(member.stop, timeout) for member in members])
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def _direct_client(host: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        host,
        directConnection=True,
        serverSelectionTimeoutMS=_PROBE_TIMEOUT_MS,
        connectTimeoutMS=_PROBE_TIMEOUT_MS,
        socketTimeoutMS=5 * _PROBE_TIMEOUT_MS,
        appname="mdb-engine-embedded",
    )


def _in_parallel(calls: Sequence[Callable[[], _T]]) -> list[_T]:
    """Run ``calls`` in threads (mongod start and stop mostly wait); raise the first error."""
    if not calls:
        return []
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]
