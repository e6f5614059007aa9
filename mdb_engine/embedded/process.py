"""Start and stop a local single-node replica set mongod for development and tests."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mdb_engine.embedded._os import (
    GUARDIAN_GRACE,
    POLL_INTERVAL,
    TAIL_LINES,
    accepts_connections,
    close_quietly,
    free_loopback_port,
    guardian_launcher,
    is_error_line,
    lines_written_since,
    stop_guardian,
    tail_of_console,
    wait_until_gone,
)
from mdb_engine.embedded.locate import find_mongod
from mdb_engine.embedded.replica_set import server_pid, step_towards_primary
from mdb_engine.errors import EmbeddedMongoError, MongodStartError

__all__ = ["LocalMongod"]

logger = logging.getLogger(__name__)

_LOG_NAME = "mongod.log"
_FILE_MANAGER_CONFIG = "file_manager=(close_idle_time=30,close_scan_interval=10)"
_PORT_ATTEMPTS = 3
_FAILED_START_STOP_TIMEOUT = 5.0


class _PortTaken(MongodStartError):
    """The port was taken by another process before mongod could bind it."""


class LocalMongod:
    """A mongod child process running a single-node replica set on 127.0.0.1.

    mongod runs under a small guardian process (``mdb_engine.embedded._guardian``) that
    stops it when this process closes the guardian's stdin or dies, even by SIGKILL.
    """

    def __init__(
        self,
        *,
        mongod_path: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        replica_set: str = "rs0",
        startup_timeout: float = 60.0,
        cache_size_gb: float = 0.25,
    ) -> None:
        self._mongod_path = mongod_path
        self._data_dir_setting = None if data_dir is None else Path(data_dir)
        self._port_setting = port
        self._replica_set = replica_set
        self._startup_timeout = startup_timeout
        self._cache_size_gb = cache_size_gb
        self._lock = threading.Lock()
        self._guardian: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[IO[bytes]], LocalMongod] | None = None
        self._console: IO[bytes] | None = None
        self._command: list[str] = []
        self._log_offset = 0
        self._mongod_pid: int | None = None
        self._port: int | None = None
        self._data_dir: Path | None = None
        self._temporary_dir: Path | None = None
        self._uri: str | None = None

    @property
    def uri(self) -> str:
        """``mongodb://127.0.0.1:<port>/?replicaSet=<name>``; only while started."""
        if self._uri is None:
            raise EmbeddedMongoError("LocalMongod is not started; call start() first")
        return self._uri

    @property
    def port(self) -> int | None:
        """The port in use while started, else the configured one (None: pick a free one)."""
        return self._port if self._port is not None else self._port_setting

    @property
    def data_dir(self) -> Path | None:
        """The data directory in use while started, else the configured one."""
        return self._data_dir if self._data_dir is not None else self._data_dir_setting

    @property
    def pid(self) -> int | None:
        """mongod's process id while started."""
        return self._mongod_pid

    @property
    def is_running(self) -> bool:
        """Whether mongod was started and has not exited since."""
        guardian = self._guardian
        return self._uri is not None and guardian is not None and guardian.poll() is None

    def start(self) -> str:
        """Start mongod, make it a writable primary, and return its URI."""
        return self._start(threading.Event())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop mongod (SIGTERM, then SIGKILL after ``timeout``); safe to call twice."""
        with self._lock:
            self._stop_locked(timeout)

    async def astart(self) -> str:
        """:meth:`start` in a worker thread; cancelling it aborts the start."""
        abort = threading.Event()
        try:
            return await asyncio.to_thread(self._start, abort)
        except asyncio.CancelledError:
            abort.set()
            raise

    async def astop(self, timeout: float = 10.0) -> None:
        """:meth:`stop` in a worker thread."""
        await asyncio.to_thread(self.stop, timeout)

    def __enter__(self) -> LocalMongod:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalMongod:
        await self.astart()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.astop()

    def __repr__(self) -> str:
        state = f"running at {self._uri}" if self.is_running else "stopped"
        return f"<LocalMongod {state}>"

    def _start(self, abort: threading.Event) -> str:
        with self._lock:
            if self._uri is not None and self.is_running:
                return self._uri
            self._stop_locked(0.0)  # clear what an exited mongod left behind
            mongod = find_mongod(self._mongod_path)
            try:
                self._data_dir = self._prepare_data_dir()
                deadline = time.monotonic() + self._startup_timeout
                for attempt in range(1, _PORT_ATTEMPTS + 1):
                    port = self._port_setting or free_loopback_port()
                    self._spawn(mongod, port, deadline)
                    try:
                        self._wait_until_primary(port, deadline, abort)
                        break
                    except _PortTaken:
                        if self._port_setting is not None or attempt == _PORT_ATTEMPTS:
                            raise
                        logger.info("port %d was taken before mongod bound it; retrying", port)
                        self._stop_process(_FAILED_START_STOP_TIMEOUT)
            except BaseException:
                self._stop_locked(_FAILED_START_STOP_TIMEOUT)
                raise
            self._port = port
            self._uri = f"mongodb://127.0.0.1:{port}/?replicaSet={self._replica_set}"
            logger.info("mongod pid %s ready at %s", self._mongod_pid, self._uri)
            return self._uri

    def _prepare_data_dir(self) -> Path:
        if self._data_dir_setting is None:
            self._temporary_dir = Path(tempfile.mkdtemp(prefix="mdb-engine-mongod-"))
            return self._temporary_dir
        try:
            self._data_dir_setting.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MongodStartError(f"cannot use data_dir {self._data_dir_setting}: {exc}") from exc
        return self._data_dir_setting.absolute()

    def _spawn(self, mongod: Path, port: int, deadline: float) -> None:
        """Start the guardian, which starts mongod, and read mongod's pid from it."""
        assert self._data_dir is not None
        log_path = self._data_dir / _LOG_NAME
        self._command = [
            str(mongod),
            *("--bind_ip", "127.0.0.1", "--port", str(port), "--nounixsocket"),
            *("--dbpath", str(self._data_dir), "--replSet", self._replica_set),
            *("--logpath", str(log_path), "--logappend"),
            *("--wiredTigerCacheSizeGB", f"{self._cache_size_gb:g}"),
            # Test suites and benchmarks create and drop thousands of collections; WiredTiger
            # keeps a file handle per table until it has been idle 10 minutes, and a server
            # past the open-file limit panics. Close idle handles after 30 s instead.
            *("--wiredTigerEngineConfigString", _FILE_MANAGER_CONFIG),
            *("--setParameter", "diagnosticDataCollectionEnabled=false"),
        ]
        guardian_options = []
        if self._temporary_dir is not None:  # so it goes even if this process is killed
            guardian_options = ["--remove-dir", str(self._temporary_dir)]
        self._log_offset = log_path.stat().st_size if log_path.exists() else 0
        # Kept open while mongod runs (closed in _stop_process) for the error report.
        self._console = tempfile.TemporaryFile(prefix="mdb-engine-mongod-console-")  # noqa: SIM115
        logger.debug("starting %s", " ".join(self._command))
        try:
            guardian = subprocess.Popen(
                [*guardian_launcher(), *guardian_options, "--", *self._command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._console,
                start_new_session=True,
            )
        except OSError as exc:
            raise MongodStartError(f"cannot start the mongod guardian: {exc}") from exc
        self._guardian = guardian
        assert guardian.stdin is not None
        self._finalizer = weakref.finalize(self, close_quietly, guardian.stdin)
        self._mongod_pid = self._read_mongod_pid(guardian, deadline)

    def _read_mongod_pid(self, guardian: subprocess.Popen[bytes], deadline: float) -> int:
        assert guardian.stdout is not None
        with guardian.stdout:
            # The guardian answers in well under a second; a short startup_timeout is for mongod.
            timeout = max(GUARDIAN_GRACE, deadline - time.monotonic())
            readable, _, _ = select.select([guardian.stdout], [], [], timeout)
            line = os.read(guardian.stdout.fileno(), 64) if readable else b""
        try:
            return int(line)
        except ValueError:
            raise self._start_error("the mongod guardian did not report a pid") from None

    def _wait_until_primary(self, port: int, deadline: float, abort: threading.Event) -> None:
        host = f"127.0.0.1:{port}"
        last_problem = "mongod did not accept connections"
        client: MongoClient[dict[str, Any]] | None = None
        is_ours = False
        try:
            while True:
                self._check_progress(deadline, abort, last_problem)
                if client is None and accepts_connections(port):
                    client = MongoClient(
                        host,
                        directConnection=True,
                        serverSelectionTimeoutMS=1000,
                        connectTimeoutMS=1000,
                        appname="mdb-engine-embedded",
                    )
                if client is not None:
                    try:
                        if not is_ours:
                            self._check_server_is_ours(client, port)
                            is_ours = True
                        if step_towards_primary(client, host, self._replica_set):
                            return
                    except PyMongoError as exc:
                        last_problem = f"{type(exc).__name__}: {exc}"
                time.sleep(POLL_INTERVAL)
        finally:
            if client is not None:
                client.close()

    def _check_progress(self, deadline: float, abort: threading.Event, last_problem: str) -> None:
        """Raise if mongod exited, the start was cancelled, or time is up."""
        assert self._guardian is not None
        status = self._guardian.poll()
        if status is not None:
            error = self._start_error(f"mongod exited with status {status}")
            if "Address already in use" in str(error):
                raise _PortTaken(str(error)) from None
            raise error
        if abort.is_set():
            raise MongodStartError("mongod start was cancelled")
        if time.monotonic() > deadline:
            raise self._start_error(
                f"mongod was not a writable primary within {self._startup_timeout:g} s"
                f" (last problem: {last_problem})"
            )

    def _check_server_is_ours(self, client: MongoClient[dict[str, Any]], port: int) -> None:
        """Refuse a server that another process already runs on the port."""
        pid = server_pid(client)
        if pid != self._mongod_pid:
            message = f"port {port} is already used by another mongod (pid {pid})"
            raise self._start_error(message, _PortTaken)

    def _start_error(
        self, reason: str, error_class: type[MongodStartError] = MongodStartError
    ) -> MongodStartError:
        """An error naming the reason, the command, and what mongod last said."""
        parts = [f"mongod did not start: {reason}", f"command: {' '.join(self._command)}"]
        if self._data_dir is not None:
            log_path = self._data_dir / _LOG_NAME
            log_lines = lines_written_since(log_path, self._log_offset)
            tail = log_lines[-TAIL_LINES:]
            errors = [line for line in log_lines if is_error_line(line) and line not in tail]
            if errors:
                parts.append(f"errors in {log_path}:")
                parts.extend(f"  {line}" for line in errors[-TAIL_LINES:])
            parts.append(f"last lines of {log_path}:" if tail else f"{log_path}: empty")
            parts.extend(f"  {line}" for line in tail)
        if self._console is not None:
            console_lines = tail_of_console(self._console)
            if console_lines:
                parts.append("console output:")
                parts.extend(f"  {line}" for line in console_lines)
        return error_class("\n".join(parts))

    def _stop_locked(self, timeout: float) -> None:
        self._stop_process(timeout)
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)
            self._temporary_dir = None
        self._data_dir = None
        self._port = None
        self._uri = None

    def _stop_process(self, timeout: float) -> None:
        guardian, self._guardian = self._guardian, None
        mongod_pid, self._mongod_pid = self._mongod_pid, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if guardian is not None:
            stop_guardian(guardian, timeout)
            if mongod_pid is not None:
                wait_until_gone(mongod_pid, guardian.pid, timeout)
            logger.info("mongod pid %s stopped", mongod_pid)
        if self._console is not None:
            self._console.close()
            self._console = None
