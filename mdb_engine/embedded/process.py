"""Start and stop a local single-node replica set mongod for development and tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from mdb_engine.embedded.locate import find_mongod
from mdb_engine.errors import EmbeddedMongoError, MongodStartError

__all__ = ["LocalMongod"]

logger = logging.getLogger(__name__)

_LOG_NAME = "mongod.log"
_TAIL_LINES = 20
_TAIL_BYTES = 64 * 1024
_LOG_READ_LIMIT = 1024 * 1024
_PORT_ATTEMPTS = 3
_POLL_INTERVAL = 0.05
_FAILED_START_STOP_TIMEOUT = 5.0
_GUARDIAN_GRACE = 5.0  # beyond the stop timeout, before the guardian's group is SIGKILLed
_ALREADY_INITIALIZED = 23
_NOT_YET_INITIALIZED = 94


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
                    port = self._port_setting or _free_loopback_port()
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
                [*_guardian_launcher(), *guardian_options, "--", *self._command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._console,
                start_new_session=True,
            )
        except OSError as exc:
            raise MongodStartError(f"cannot start the mongod guardian: {exc}") from exc
        self._guardian = guardian
        assert guardian.stdin is not None
        self._finalizer = weakref.finalize(self, _close_quietly, guardian.stdin)
        self._mongod_pid = self._read_mongod_pid(guardian, deadline)

    def _read_mongod_pid(self, guardian: subprocess.Popen[bytes], deadline: float) -> int:
        assert guardian.stdout is not None
        with guardian.stdout:
            # The guardian answers in well under a second; a short startup_timeout is for mongod.
            timeout = max(_GUARDIAN_GRACE, deadline - time.monotonic())
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
                if client is None and _accepts_connections(port):
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
                        if _step_towards_primary(client, host, self._replica_set):
                            return
                    except PyMongoError as exc:
                        last_problem = f"{type(exc).__name__}: {exc}"
                time.sleep(_POLL_INTERVAL)
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
        server_pid = client.admin.command("serverStatus", repl=0, metrics=0)["pid"]
        if server_pid != self._mongod_pid:
            message = f"port {port} is already used by another mongod (pid {server_pid})"
            raise self._start_error(message, _PortTaken)

    def _start_error(
        self, reason: str, error_class: type[MongodStartError] = MongodStartError
    ) -> MongodStartError:
        """An error naming the reason, the command, and what mongod last said."""
        parts = [f"mongod did not start: {reason}", f"command: {' '.join(self._command)}"]
        if self._data_dir is not None:
            log_path = self._data_dir / _LOG_NAME
            log_lines = _lines_written_since(log_path, self._log_offset)
            tail = log_lines[-_TAIL_LINES:]
            errors = [line for line in log_lines if _is_error_line(line) and line not in tail]
            if errors:
                parts.append(f"errors in {log_path}:")
                parts.extend(f"  {line}" for line in errors[-_TAIL_LINES:])
            parts.append(f"last lines of {log_path}:" if tail else f"{log_path}: empty")
            parts.extend(f"  {line}" for line in tail)
        if self._console is not None:
            console_lines = _tail_of_console(self._console)
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
            _stop_guardian(guardian, timeout)
            if mongod_pid is not None:
                _wait_until_gone(mongod_pid, guardian.pid, timeout)
            logger.info("mongod pid %s stopped", mongod_pid)
        if self._console is not None:
            self._console.close()
            self._console = None


def _step_towards_primary(client: MongoClient[dict[str, Any]], host: str, name: str) -> bool:
    """Initiate or re-home the replica set as needed; True once mongod is a writable primary."""
    if client.admin.command("hello").get("isWritablePrimary"):
        return True
    try:
        config = client.admin.command("replSetGetConfig")["config"]
    except OperationFailure as exc:
        if exc.code != _NOT_YET_INITIALIZED:
            raise
        try:
            client.admin.command(
                "replSetInitiate", {"_id": name, "members": [{"_id": 0, "host": host}]}
            )
        except OperationFailure as initiate_exc:
            if initiate_exc.code != _ALREADY_INITIALIZED:
                raise
        return False
    members = config["members"]
    if [member["host"] for member in members] != [host]:
        # A kept data dir restarted on another port still names the old host:port.
        logger.info("moving replica set %r from %s to %s", name, members[0]["host"], host)
        config["members"] = [{**members[0], "host": host}]
        config["version"] += 1
        client.admin.command("replSetReconfig", config, force=True)
    return False


def _guardian_launcher() -> list[str]:
    """How to run the guardian: its file directly when there is one.

    ``python -m mdb_engine.embedded._guardian`` would import the whole ``mdb_engine`` package
    first (about 0.4 s and 30 MB more per guardian); the guardian needs only the stdlib.
    """
    script = Path(__file__).with_name("_guardian.py")
    if script.is_file():
        return [sys.executable, "-I", str(script)]
    return [sys.executable, "-m", "mdb_engine.embedded._guardian"]


def _stop_guardian(guardian: subprocess.Popen[bytes], timeout: float) -> None:
    """Ask the guardian to stop mongod by closing its stdin; kill its group if it hangs."""
    if guardian.stdin is not None:
        with contextlib.suppress(OSError):
            guardian.stdin.write(f"{timeout}\n".encode())
        _close_quietly(guardian.stdin)
    try:
        guardian.wait(timeout + _GUARDIAN_GRACE)
    except subprocess.TimeoutExpired:
        logger.warning("mongod guardian %d did not stop in time; killing it", guardian.pid)
        _kill_group(guardian.pid)
        guardian.wait()


def _wait_until_gone(pid: int, group: int, timeout: float) -> None:
    """Wait for mongod to exit (it may outlive a killed guardian briefly); then SIGKILL."""
    deadline = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() >= deadline:
            logger.warning("mongod pid %d did not exit in time; killing it", pid)
            _kill_group(group)
            return
        time.sleep(_POLL_INTERVAL)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie nobody reaps still answers kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = stat.rpartition(")")[2].split()
    return not fields or fields[0] not in ("Z", "X")


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def _close_quietly(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError):
        stream.close()


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _lines_written_since(path: Path, offset: int) -> list[str]:
    """The lines written to ``path`` after ``offset`` (at most the last MiB)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - _LOG_READ_LIMIT))
            data = log.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()


def _is_error_line(line: str) -> bool:
    return '"s":"E"' in line or '"s":"F"' in line


def _tail_of_console(console: IO[bytes]) -> list[str]:
    # pread leaves the offset alone: the guardian shares this open file and may still write.
    size = os.fstat(console.fileno()).st_size
    start = max(0, size - _TAIL_BYTES)
    data = os.pread(console.fileno(), size - start, start)
    return data.decode("utf-8", "replace").splitlines()[-_TAIL_LINES:]
