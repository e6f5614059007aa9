"""A bandwidth-limited TCP link for the benchmarks: a proxy on 127.0.0.1 in front of a server.

Every byte is forwarded in both directions through a token bucket per direction, shared by all
connections (one link, full duplex), and optionally delayed by a fixed latency per direction.
Reads stop while a chunk waits for its tokens, for room in the (bounded) delay line, or for the
writer to drain, so each connection holds at most a chunk, the delay line and the transport's
write buffer in each direction.

For a MongoDB replica set member, connect with ``directConnection=true``: the member advertises
its own address, and without it the driver would reconnect there, around the link.

Run as a script, it prints ``port <n>`` once listening and stops when its standard input closes:
``python benchmarks/_throttled_link.py --upstream 127.0.0.1:27017 --link-mbit 100
[--link-latency-ms 1]`` (``--link-mbit 0``: no limit).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence

__all__ = ["CHUNK", "ThrottledLink", "TokenBucket"]

CHUNK = 64 * 1024
_DELAY_LINE_CHUNKS = 64  # per connection and direction, only with a latency


class TokenBucket:
    """``rate`` bytes per second on average, in bursts of at most ``burst`` bytes."""

    def __init__(self, rate: float, burst: int = CHUNK) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    async def take(self, size: int) -> None:
        """Wait until ``size`` bytes may pass. Concurrent callers queue behind each other's debt."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= size
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self.rate)


class ThrottledLink:
    """A proxy on 127.0.0.1 to ``upstream_host:upstream_port``.

    ``mbit``: megabits per second in each direction (``None``: no limit). ``latency_ms``: added
    one-way delay in each direction. Use as ``async with ThrottledLink(host, port, mbit=100)``;
    ``port`` is the listening port.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        mbit: float | None = None,
        latency_ms: float = 0.0,
    ) -> None:
        if latency_ms < 0:
            raise ValueError("the latency cannot be negative")
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.latency = latency_ms / 1000
        rate = None if not mbit else mbit * 1_000_000 / 8
        self._to_upstream = None if rate is None else TokenBucket(rate)
        self._to_client = None if rate is None else TokenBucket(rate)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the link is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening and end every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> ThrottledLink:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            await _close(writer)
            return
        pumps = [
            asyncio.ensure_future(self._pump(reader, upstream_writer, self._to_upstream)),
            asyncio.ensure_future(self._pump(upstream_reader, writer, self._to_client)),
        ]
        try:
            # The connection ends when either side closes (or fails).
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.wait(pumps)
            for pump in pumps:
                _retrieve(pump)  # a reset connection is an ordinary end here
            await _close(writer)
            await _close(upstream_writer)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        bucket: TokenBucket | None,
    ) -> None:
        """Forward ``reader`` to ``writer`` until end of stream."""
        if not self.latency:
            while data := await reader.read(CHUNK):
                if bucket is not None:
                    await bucket.take(len(data))
                writer.write(data)
                await writer.drain()
            return
        # A bounded delay line: each chunk leaves ``latency`` after it has passed the bucket.
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_DELAY_LINE_CHUNKS)
        deliver = asyncio.ensure_future(self._deliver(line, writer))
        try:
            while data := await reader.read(CHUNK):
                if bucket is not None:
                    await bucket.take(len(data))
                await _put(line, (time.monotonic() + self.latency, data), deliver)
            await _put(line, (0.0, b""), deliver)
            await deliver
        finally:
            deliver.cancel()
            await asyncio.wait([deliver])
            _retrieve(deliver)

    @staticmethod
    async def _deliver(
        line: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        while True:
            due, data = await line.get()
            if not data:
                return
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


async def _put(
    line: asyncio.Queue[tuple[float, bytes]],
    item: tuple[float, bytes],
    deliver: asyncio.Future[None],
) -> None:
    """Queue ``item``, or raise what stopped ``deliver`` (which would never make room)."""
    if line.full():
        put = asyncio.ensure_future(line.put(item))
        await asyncio.wait([put, deliver], return_when=asyncio.FIRST_COMPLETED)
        if put.done():
            return
        put.cancel()
        deliver.result()
        raise ConnectionError("the delay line stopped")
    line.put_nowait(item)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()


async def _serve_until_stdin_closes(args: argparse.Namespace) -> None:
    host, _, port = args.upstream.rpartition(":")
    link = ThrottledLink(
        host or "127.0.0.1", int(port), mbit=args.link_mbit, latency_ms=args.link_latency_ms
    )
    async with link:
        sys.stdout.write(f"port {link.port}\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.buffer.read)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the link until standard input closes."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="host:port of the server")
    parser.add_argument("--link-mbit", type=float, default=0.0, help="Mbit/s each way (0: none)")
    parser.add_argument("--link-latency-ms", type=float, default=0.0, help="one-way delay, ms")
    asyncio.run(_serve_until_stdin_closes(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
