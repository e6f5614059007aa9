"""Run mongod as a child and stop it when the parent process goes away.

Usage: ``python -m mdb_engine.embedded._guardian [--remove-dir DIR] [--] MONGOD [ARG ...]``
(:class:`~mdb_engine.embedded.process.LocalMongod` runs this file by path instead, to skip
importing the package.)

Protocol with the parent (:class:`~mdb_engine.embedded.process.LocalMongod`): the guardian
writes mongod's pid as one line on stdout, then reads stdin until end of file, which comes
when the parent closes the pipe or dies, however it dies. To stop mongod the parent writes a
stop timeout in seconds, then closes the pipe. The guardian then stops mongod (SIGTERM, wait,
SIGKILL) and exits with mongod's status. SIGTERM to the guardian does the same. If mongod
exits on its own, so does the guardian, with mongod's status.

``--remove-dir`` is removed only when stdin ends with nothing written: the parent is gone (or
dropped its LocalMongod without stopping it), so nobody else will clean up. Otherwise the
parent removes it itself, after reading mongod's log for its error report.

On Linux mongod also gets ``PR_SET_PDEATHSIG``, so a SIGKILL of the guardian stops mongod.
Only the standard library is used here: the guardian must start fast and stay small.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from types import FrameType

DEFAULT_STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.1
_PR_SET_PDEATHSIG = 1


class _StopRequested(Exception):
    """Raised from the SIGTERM handler to leave the wait loop at once."""


def main(argv: list[str]) -> int:
    """Run the guardian; return its exit status."""
    remove_dir: str | None = None
    if argv[:1] == ["--remove-dir"] and len(argv) >= 2:
        remove_dir, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.stderr.write(__doc__ or "")
        return 2
    try:
        # mongod's own console output (errors before its log file opens) joins ours on stderr.
        mongod = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=sys.stderr, preexec_fn=_death_signal_setter()
        )
    except OSError as exc:
        sys.stderr.write(f"mdb-engine guardian: cannot run {argv[0]!r}: {exc}\n")
        return 127
    # Installed only now: an earlier SIGTERM kills us the default way, and the death signal
    # then takes mongod down too.
    signal.signal(signal.SIGTERM, _raise_stop_requested)
    received: bytes | None = None
    try:
        os.write(sys.stdout.fileno(), f"{mongod.pid}\n".encode())
        received = _read_until_end_of_input(mongod)
    except _StopRequested:
        pass
    except OSError:  # the parent is gone before reading the pid
        received = b""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    status = _stop(mongod, _stop_timeout(received))
    if remove_dir is not None and received == b"":
        shutil.rmtree(remove_dir, ignore_errors=True)
    return status


def _raise_stop_requested(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested


def _read_until_end_of_input(mongod: subprocess.Popen[bytes]) -> bytes | None:
    """What the parent wrote on stdin before closing it, or None if mongod exited first."""
    received = b""
    stdin = sys.stdin.fileno()
    while mongod.poll() is None:
        readable, _, _ = select.select([stdin], [], [], _POLL_INTERVAL)
        if not readable:
            continue
        chunk = os.read(stdin, 1024)
        if not chunk:
            return received
        received += chunk
    return None


def _stop_timeout(received: bytes | None) -> float:
    try:
        return float((received or b"").decode().strip() or DEFAULT_STOP_TIMEOUT)
    except ValueError:
        return DEFAULT_STOP_TIMEOUT


def _stop(mongod: subprocess.Popen[bytes], timeout: float) -> int:
    if mongod.poll() is None:
        mongod.terminate()
        try:
            mongod.wait(timeout)
        except subprocess.TimeoutExpired:
            mongod.kill()
            mongod.wait()
    status = mongod.returncode
    return 128 - status if status < 0 else status


def _death_signal_setter() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM mongod when the guardian dies, or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    guardian_pid = os.getpid()

    def set_death_signal() -> None:
        # Runs between fork and exec; the guardian has a single thread, so this is safe.
        prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM))
        if os.getppid() != guardian_pid:  # the guardian died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return set_death_signal


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
