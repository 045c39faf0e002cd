"""Socket limits against a real daemon (SPEC §12): frame size, connection count, stuck clients."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billingd.control.client import ControlClient
from tests.conftest import RunningDaemon

STATUS = b'{"jsonrpc": "2.0", "id": 1, "method": "status"}\n'


def _connect(daemon: RunningDaemon, timeout: float = 10) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(daemon.socket))
    return sock


def _ask(sock: socket.socket, frame: bytes = STATUS) -> dict[str, Any]:
    sock.sendall(frame)
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"closed after {line!r}")
        line += chunk
    return json.loads(line)


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _quick_status(daemon: RunningDaemon, within: float = 2.0) -> None:
    started = time.monotonic()
    with ControlClient(daemon.socket, timeout=within) as client:
        assert client.call("status")["version"]
    assert time.monotonic() - started < within


@pytest.fixture
def limited(short_dir: Path) -> Iterator[RunningDaemon]:
    running = RunningDaemon(
        short_dir,
        f"sqlite:///{short_dir / 'billing.db'}",
        # (the test's user is admin: beyond max_connections, only its own limit stops it)
        "max_connections: 3\nmax_connections_per_user: 3\nmax_frame_bytes: 4096\n",
    )
    yield running
    running.stop()


def test_connection_over_the_limit_gets_an_error_then_is_closed(limited: RunningDaemon) -> None:
    held = [_connect(limited) for _ in range(3)]
    try:
        for sock in held:  # all three are being served
            assert _ask(sock)["result"]["version"]
        extra = _connect(limited)
        reply = json.loads(_read_until_closed(extra))
        extra.close()
        assert reply["id"] is None
        assert reply["error"]["code"] == 1004
        assert reply["error"]["data"]["reason"] == "too_many_connections"
        assert reply["error"]["data"]["limit"] == 3
        assert "too many connections" in reply["error"]["message"]
        assert _ask(held[0])["result"]["version"]  # the others are untouched
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # slots come back once the daemon noticed the closes
        try:
            _quick_status(limited)
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_oversize_frame_gets_1005_and_the_connection_closes(limited: RunningDaemon) -> None:
    with _connect(limited) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "status", "p": "' + b"x" * 8000)
        data = _read_until_closed(sock)
    reply = json.loads(data.splitlines()[0])
    assert reply["error"]["code"] == 1005
    assert reply["error"]["data"]["reason"] == "frame_too_large"
    _quick_status(limited)


def test_frame_just_under_the_limit_is_served(limited: RunningDaemon) -> None:
    frame = b'{"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}'
    padded = frame[:-1] + b" " * (4096 - len(frame) - 1) + b"}\n"
    assert len(padded) == 4096  # max_frame_bytes, the newline included
    with _connect(limited) as sock:
        assert _ask(sock, padded)["result"]["version"]


def test_half_a_frame_holds_up_nobody(daemon: RunningDaemon) -> None:
    with _connect(daemon) as stuck:
        stuck.sendall(b'{"jsonrpc": "2.0", "id": 5, "meth')
        for _ in range(20):
            _quick_status(daemon)
        # the rest of the frame, much later, is still answered
        stuck.sendall(b'od": "status"}\n')
        reply = json.loads(stuck.makefile("rb").readline())
        assert reply["id"] == 5 and reply["result"]["version"]


def test_client_that_never_reads_holds_up_nobody(daemon: RunningDaemon) -> None:
    stuck = _connect(daemon)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sent = threading.Event()
    stop = threading.Event()

    def flood() -> None:
        frames = STATUS * 200
        try:
            while not stop.is_set():
                stuck.sendall(frames)  # never reads: this blocks once the daemon stops reading
                sent.set()
        except OSError:
            pass

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        assert sent.wait(10)
        time.sleep(0.5)  # long enough for its replies to fill every buffer
        for _ in range(20):
            _quick_status(daemon)
        with ControlClient(daemon.socket, timeout=5) as other:
            other.subscribe()
            other.call("enterprise.add", name="Acme", currency="EUR")
            assert other.call("status")["clients"] == 0
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            stuck.shutdown(socket.SHUT_RDWR)  # wakes the blocked sendall
        stuck.close()
        flooder.join(10)
    _quick_status(daemon)
    assert daemon.process.poll() is None


def test_idle_connections_are_kept(daemon: RunningDaemon) -> None:
    with _connect(daemon) as idle:
        time.sleep(1.5)
        assert _ask(idle)["result"]["version"]


def test_shutdown_is_not_held_up_by_a_stuck_client(daemon: RunningDaemon) -> None:
    stuck = _connect(daemon)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        for _ in range(2000):
            stuck.send(STATUS * 50)
    half = _connect(daemon)
    half.sendall(b'{"jsonrpc": "2.0"')
    try:
        _quick_status(daemon)
        started = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - started < 15
    finally:
        stuck.close()
        half.close()
