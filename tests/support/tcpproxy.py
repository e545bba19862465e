"""A local TCP fault proxy: put it between a client and a real server, then break the network.

The proxy listens on 127.0.0.1 (an ephemeral port) and runs its own asyncio loop in a
daemon thread, so tests that run the CLI in a subprocess or in-process can both use it.
Every call that waits is bounded, and :meth:`TcpProxy.stop` always returns (the thread is
a daemon: a stuck loop cannot keep the interpreter alive).

Modes (switch at any time with :meth:`TcpProxy.set_mode`):

* ``forward``: new connections are relayed to the target; paused connections resume.
* ``blackhole``: new connections are accepted, read and discarded, never answered
  (a server that accepts TCP and never speaks); connections already relayed go on.
* ``partition``: nothing moves on relayed connections in either direction, but they stay
  open (a dead network); new connections are black-holed. Back to ``forward`` heals it:
  what was held is delivered, as TCP retransmission would.
* ``refuse``: the port stops listening (connect fails with ECONNREFUSED) and relayed
  connections are reset (the host is up, the server is gone).
* ``reset``: the port listens but every new connection is reset at once; relayed
  connections are reset too (a firewall answering with TCP RST).

What a proxy cannot fake: its own kernel completes the TCP handshake and ACKs every
segment (and keepalive probe) the client sends, so client-side TCP keepalives and
``TCP_USER_TIMEOUT`` never fire through it; and the server sees the proxy, not the
client, as its peer. Only timers (driver timeouts, ``asyncio`` bounds, server timeouts)
can end a black-holed or partitioned wait here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")

#: How long any call into the proxy's loop may take before the test fails instead of hanging.
CALL_TIMEOUT = 5.0
_CHUNK = 65536


class Mode(str, Enum):
    FORWARD = "forward"
    BLACKHOLE = "blackhole"
    PARTITION = "partition"
    REFUSE = "refuse"
    RESET = "reset"


@dataclass(eq=False)  # hashed by identity: kept in a set
class _Relay:
    """One client connection and, when forwarded, its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), not FIN: what a refusing firewall or dead server sends."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    """A fault-injecting TCP relay on 127.0.0.1 to ``target`` (host, port)."""

    def __init__(self, target: tuple[str, int], mode: Mode | str = Mode.FORWARD) -> None:
        self.target = target
        self.host = "127.0.0.1"
        self.port = 0
        self._mode = Mode(mode)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._relays: set[_Relay] = set()
        self._held: set[asyncio.StreamWriter] = set()  # black-holed client connections
        self._stats_lock = threading.Lock()
        self.accepted = 0  # every connection the proxy accepted, in any mode
        self.swallowed = 0  # of those, black-holed
        self.bytes_up = 0  # client -> target, delivered
        self.bytes_down = 0  # target -> client, delivered

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        """Bind an ephemeral port on 127.0.0.1 and start relaying; returns self."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"tcpproxy-{self.target}", daemon=True)
        self._thread.start()
        if not ready.wait(CALL_TIMEOUT):
            raise RuntimeError("tcp proxy loop did not start")
        self._call(self._astart())
        return self

    def stop(self) -> None:
        """Close every socket and stop the loop; bounded, safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        if loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._astop(), loop).result(CALL_TIMEOUT)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(CALL_TIMEOUT)
        if not thread.is_alive():
            loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control ---------------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode | str) -> None:
        """Switch mode; returns once the change is in effect (see the module docstring)."""
        self._call(self._aset_mode(Mode(mode)))

    @property
    def open_connections(self) -> int:
        """Client connections currently open through the proxy (relayed or black-holed)."""
        return self._call(self._acount())

    def wait_for_connections(self, count: int, timeout: float = CALL_TIMEOUT) -> None:
        """Block until at least ``count`` connections were accepted, or AssertionError."""
        deadline = time.monotonic() + timeout
        while self.accepted < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"proxy accepted {self.accepted} connection(s), expected {count} "
                    f"within {timeout:g} s"
                )
            time.sleep(0.02)

    def url(self, url: str) -> str:
        """``url`` (a SQLAlchemy URL) with its host and port replaced by the proxy's."""
        from sqlalchemy.engine import make_url

        replaced = make_url(url).set(host=self.host, port=self.port)
        return replaced.render_as_string(hide_password=False)

    # -- loop side -------------------------------------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("tcp proxy is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT)

    async def _acount(self) -> int:
        return len(self._relays) + len(self._held)

    async def _astart(self) -> None:
        self._flowing = asyncio.Event()
        if self._mode is not Mode.PARTITION:
            self._flowing.set()
        if self._mode is not Mode.REFUSE:
            await self._listen()
        else:  # reserve a port, then close it: refuse from the start
            await self._listen()
            await self._unlisten()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            # Python >= 3.12 waits for accepted connections here: never block on them.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 0.5)

    async def _aset_mode(self, mode: Mode) -> None:
        assert self._flowing is not None
        self._mode = mode
        if mode is Mode.PARTITION:
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode in (Mode.REFUSE, Mode.RESET):
            self._reset_all()
        if mode is Mode.REFUSE:
            await self._unlisten()
        elif self._server is None:
            await self._listen()

    async def _astop(self) -> None:
        await self._unlisten()
        self._reset_all()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1)

    def _reset_all(self) -> None:
        for relay in list(self._relays):
            for writer in (relay.client, relay.upstream):
                if writer is not None:
                    _reset(writer)
            for task in relay.tasks:
                task.cancel()
        for writer in list(self._held):
            _reset(writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self._mode
        with self._stats_lock:
            self.accepted += 1
        try:
            if mode in (Mode.RESET, Mode.REFUSE):
                _reset(writer)
            elif mode in (Mode.BLACKHOLE, Mode.PARTITION):
                await self._swallow(reader, writer)
            else:
                await self._relay(reader, writer)
        except asyncio.CancelledError:
            # Only stop() cancels: end quietly (asyncio logs a cancelled handler as an error).
            writer.transport.abort()

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._stats_lock:
            self.swallowed += 1
        self._held.add(writer)
        try:
            while await reader.read(_CHUNK):
                pass  # read and discard: the client's sends never block
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._held.discard(writer)
            writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        relay = _Relay(writer)
        self._relays.add(relay)  # before connecting upstream: a reset now must reach it
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.target), CALL_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError, asyncio.CancelledError):
            self._relays.discard(relay)
            _reset(writer)
            return
        relay.upstream = up_writer
        try:
            if writer.is_closing():  # reset while connecting upstream
                return
            relay.tasks = [
                asyncio.ensure_future(self._pump(reader, up_writer, up=True)),
                asyncio.ensure_future(self._pump(up_reader, writer, up=False)),
            ]
            await asyncio.wait(relay.tasks)
        finally:
            self._relays.discard(relay)
            for task in relay.tasks:
                task.cancel()
            writer.transport.abort()
            up_writer.transport.abort()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        assert self._flowing is not None
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await self._flowing.wait()  # read just before a partition: hold it
                writer.write(data)
                await writer.drain()
                with self._stats_lock:
                    if up:
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
            # EOF from one side: pass the half-close on, as the network would.
            await self._flowing.wait()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, asyncio.CancelledError):
            pass


@contextlib.contextmanager
def running_proxy(target: tuple[str, int], mode: Mode | str = Mode.FORWARD) -> Iterator[TcpProxy]:
    """A started proxy, stopped on exit even when the body fails."""
    proxy = TcpProxy(target, mode)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
