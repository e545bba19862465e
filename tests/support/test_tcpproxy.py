"""The fault proxy itself, against a local echo server: every mode, and that it always stops."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from .tcpproxy import Mode, TcpProxy, running_proxy

SHORT = 0.3  # how long "nothing arrives" is watched


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()


def connect(proxy: TcpProxy) -> socket.socket:
    """A client socket, once the proxy has accepted it (so a mode switch applies to it)."""
    before = proxy.accepted
    sock = socket.create_connection((proxy.host, proxy.port), timeout=2)
    sock.settimeout(SHORT)
    proxy.wait_for_connections(before + 1)
    return sock


def roundtrip(sock: socket.socket, payload: bytes = b"ping") -> bytes:
    sock.sendall(payload)
    return sock.recv(4096)


def silent(sock: socket.socket) -> bool:
    """True when nothing arrives within SHORT seconds."""
    try:
        sock.recv(4096)
    except TimeoutError:
        return True
    return False


def test_forward_relays_both_ways_and_counts(echo):
    with running_proxy(echo) as proxy, connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"
        assert proxy.accepted == 1
        assert proxy.open_connections == 1
        assert (proxy.bytes_up, proxy.bytes_down) == (4, 4)


def test_blackhole_accepts_reads_and_never_answers(echo):
    with running_proxy(echo, "blackhole") as proxy, connect(proxy) as sock:
        sock.sendall(b"x" * 1_000_000)  # read and discarded: the send does not block
        assert silent(sock)
        assert (proxy.accepted, proxy.swallowed) == (1, 1)


def test_blackhole_leaves_relayed_connections_alone(echo):
    with running_proxy(echo) as proxy, connect(proxy) as old:
        proxy.set_mode(Mode.BLACKHOLE)
        with connect(proxy) as new:
            new.sendall(b"ping")
            assert silent(new)
        assert roundtrip(old) == b"ping"


def test_partition_freezes_open_connections_and_heals(echo):
    with running_proxy(echo) as proxy, connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"
        proxy.set_mode("partition")
        sock.sendall(b"held")
        assert silent(sock)
        with connect(proxy) as new:  # new connections are black-holed
            new.sendall(b"lost")
            assert silent(new)
        assert proxy.swallowed == 1
        proxy.set_mode("forward")
        sock.settimeout(2)
        assert sock.recv(4096) == b"held"  # delivered late, as TCP retransmission would


def test_refuse_stops_listening_and_resets_open_connections(echo):
    with running_proxy(echo) as proxy, connect(proxy) as sock:
        proxy.set_mode("refuse")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((proxy.host, proxy.port), timeout=2)
        with pytest.raises(ConnectionResetError):
            roundtrip(sock)
        proxy.set_mode("forward")  # listens again on the same port
        with connect(proxy) as again:
            assert roundtrip(again) == b"ping"


def test_refuse_from_the_start(echo):
    with running_proxy(echo, "refuse") as proxy:
        assert proxy.port
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((proxy.host, proxy.port), timeout=2)


def test_reset_accepts_then_resets(echo):
    """The RST may reach the client while ``connect()`` returns, or at its first read."""
    with running_proxy(echo, "reset") as proxy:
        with pytest.raises(ConnectionResetError):
            sock = socket.create_connection((proxy.host, proxy.port), timeout=2)
            with sock:
                sock.settimeout(2)
                roundtrip(sock)
        proxy.wait_for_connections(1)  # it was accepted, then reset


def test_stop_is_bounded_with_connections_held_open(echo):
    proxy = TcpProxy(echo, "partition").start()
    clients = [connect(proxy) for _ in range(5)]
    proxy.wait_for_connections(5)
    started = time.monotonic()
    proxy.stop()
    proxy.stop()
    assert time.monotonic() - started < 2
    for sock in clients:
        sock.settimeout(2)
        with pytest.raises(ConnectionResetError):
            sock.recv(1)  # the clients see the proxy die, they do not hang
        sock.close()
    with pytest.raises(RuntimeError, match="not running"):
        proxy.set_mode("forward")


def test_wait_for_connections_is_bounded(echo):
    with running_proxy(echo) as proxy, pytest.raises(AssertionError, match="accepted 0"):
        proxy.wait_for_connections(1, timeout=0.1)


def test_url_points_at_the_proxy(echo):
    with running_proxy(echo) as proxy:
        url = proxy.url("postgresql+asyncpg://u:p%40ss@db.example:5432/app?ssl=disable")
        assert url == f"postgresql+asyncpg://u:p%40ss@127.0.0.1:{proxy.port}/app?ssl=disable"


def test_fixture_stops_its_proxies(tcp_proxy, echo):
    proxy = tcp_proxy(echo, mode="blackhole")
    with connect(proxy) as sock:
        assert silent(sock)
