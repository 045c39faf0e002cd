"""Who may hold the socket (SPEC §12, issue 14): connection limits per user, the
admins' reserve, idle connections, and the role of every registered method.

A real daemon runs as root; clients run as other uids (``setpriv``), so
SO_PEERCRED reports them: nobody (65534) and two users without a passwd entry,
named ``uid:65533`` and ``uid:65532`` by the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from billingd.control.client import ControlClient, RemoteError
from billingd.control.peer import Peer
from billingd.control.registry import METHODS
from billingd.control.server import ADMIN_RESERVE, ControlServer, required_role
from tests.conftest import RunningDaemon
from tests.control.peers import NOBODY, Holder, as_user, open_daemon, run_as, user_name

OTHER, THIRD = 65533, 65532
STATUS = b'{"jsonrpc": "2.0", "id": 1, "method": "status"}\n'
READ_VERBS = frozenset(
    {"list", "show", "pdf", "preview", "plan", "aging", "revenue", "status", "summary"}
    | {"subscribe", "unsubscribe"}
)
"""The last word of every method that only reads: a new read with another verb must be
added here on purpose, and a write named with one of these fails the test."""


def test_one_user_cannot_take_every_slot(short_dir: Path) -> None:
    nobody, other, third = as_user(NOBODY), as_user(OTHER), as_user(THIRD)
    viewers = json.dumps([user_name(NOBODY), user_name(OTHER), user_name(THIRD)])
    daemon = open_daemon(
        short_dir,
        f"{{admin: [root], viewer: {viewers}}}",
        "max_connections: 4\nmax_connections_per_user: 2\n",
    )
    holders: list[Holder] = []
    try:
        holders.append(greedy := Holder(nobody, daemon, 3))
        assert greedy.served() == 2  # its own limit, not the socket's
        (refused,) = greedy.refusals()
        assert refused["code"] == 1004
        assert refused["data"] == {
            "reason": "too_many_connections",
            "limit": 2,
            "user": user_name(NOBODY),
        }
        assert "max_connections_per_user" in refused["message"]
        holders.append(second := Holder(other, daemon, 2))
        assert second.served() == 2  # another user still gets in: 4 of 4 now
        holders.append(late := Holder(third, daemon, 1))
        (full,) = late.refusals()
        assert full["data"] == {"reason": "too_many_connections", "limit": 4}
        holders.append(root := Holder([], daemon, 2))
        assert root.served() == 2  # an admin is never locked out (ADMIN_RESERVE)
        assert daemon.process.poll() is None
    finally:
        for holder in holders:
            holder.release()


def test_admin_reserve_is_bounded(short_dir: Path) -> None:
    daemon = RunningDaemon(
        short_dir,
        f"sqlite:///{short_dir / 'billing.db'}",
        "max_connections: 2\nmax_connections_per_user: 64\n",
    )
    root = Holder([], daemon, 2 + ADMIN_RESERVE + 1)
    try:
        assert root.served() == 2 + ADMIN_RESERVE
        (refused,) = root.refusals()
        assert refused["data"] == {"reason": "too_many_connections", "limit": 2}
    finally:
        root.release()
        daemon.stop()


def test_idle_connection_is_closed_but_a_subscriber_is_kept(short_dir: Path) -> None:
    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", "idle_timeout: 1\n")
    try:
        with socket.socket(socket.AF_UNIX) as idle, socket.socket(socket.AF_UNIX) as quiet:
            for sock in (idle, quiet):
                sock.settimeout(10)
                sock.connect(str(daemon.socket))
            quiet.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "subscribe"}\n')
            quiet_lines = quiet.makefile("rb")
            assert "result" in json.loads(quiet_lines.readline())
            started = time.monotonic()
            idle.sendall(STATUS)
            idle_lines = idle.makefile("rb")
            assert "result" in json.loads(idle_lines.readline())
            notice = json.loads(idle_lines.readline())  # then nothing for a second
            assert time.monotonic() - started < 5
            assert notice["id"] is None
            assert notice["error"]["data"] == {"reason": "idle_timeout", "limit": 1}
            assert idle_lines.readline() == b""  # closed
            quiet.sendall(STATUS.replace(b'"id": 1', b'"id": 2'))
            assert json.loads(quiet_lines.readline())["id"] == 2  # the subscriber stays
    finally:
        daemon.stop()


def test_a_client_that_never_reads_loses_its_slot(short_dir: Path) -> None:
    """It floods requests and reads no reply: after idle_timeout it is cut off, and its
    user's one slot (max_connections_per_user: 1) is free again."""
    daemon = RunningDaemon(
        short_dir,
        f"sqlite:///{short_dir / 'billing.db'}",
        "idle_timeout: 1\nmax_connections_per_user: 1\n",
    )
    stuck = socket.socket(socket.AF_UNIX)
    try:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(str(daemon.socket))
        stuck.setblocking(False)
        sent = 0
        with contextlib.suppress(BlockingIOError):
            for _ in range(5000):
                sent += stuck.send(STATUS * 50)
        assert sent  # its replies fill every buffer: the daemon waits on it
        deadline = time.monotonic() + 10
        while True:
            try:
                with ControlClient(daemon.socket, timeout=5) as client:
                    assert client.call("status")["version"]
                break
            except RemoteError as exc:  # its slot is still held
                assert exc.data["reason"] == "too_many_connections"
                assert time.monotonic() < deadline, "the stuck client kept its slot"
                time.sleep(0.1)
        assert "reads nothing" in daemon.log_text()
    finally:
        stuck.close()
        daemon.stop()


# --- every method's role ----------------------------------------------------------------


def test_every_read_method_is_named_as_a_read() -> None:
    """A write registered as a read would be open to viewers: read verbs only for reads."""
    for name, entry in METHODS.items():
        verb = name.rpartition(".")[2]
        if entry.writes:
            assert verb not in READ_VERBS, f"{name} writes but is named like a read"
        else:
            assert verb in READ_VERBS, f"{name} is registered as a read: is it one?"


def test_every_write_is_refused_for_a_viewer_through_the_socket(short_dir: Path) -> None:
    """The whole registry, as a viewer: writes (and admin methods) refused with 1003
    before their parameters are looked at, nothing written; reads answered."""
    nobody = as_user(NOBODY)
    daemon = open_daemon(short_dir, f"{{admin: [root], viewer: [{json.dumps(user_name(NOBODY))}]}}")
    try:
        enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR")
        daemon.call("client.add", name="Jane", enterprise=enterprise["id"])
        before = daemon.call("audit.list")
        names = sorted(METHODS)
        replies = run_as(nobody, daemon, [(name, {}) for name in names])
        assert len(replies) == len(names)
        for name, reply in zip(names, replies, strict=True):
            refused = reply.get("error", {}).get("code") == 1003
            if required_role(METHODS[name]) == "viewer":
                assert not refused, (name, reply)
                assert "result" in reply or reply["error"]["code"] in (-32602, 1001), reply
            else:
                assert refused, (name, reply)
                assert "viewer" in reply["error"]["message"]
        assert daemon.call("audit.list") == before
    finally:
        daemon.stop()


@pytest.mark.parametrize("role", [None, "viewer"])
def test_every_method_checks_the_role_on_every_request(role: str | None) -> None:
    """The check a reload relies on (a connection held by a user who lost the role):
    every method of the registry, in process, none of them run."""
    server = ControlServer(None, None, lambda user, groups: role)  # type: ignore[arg-type]
    peer = Peer(1, 1000, 1000, "mallory", (), "operator")

    async def ask(name: str) -> dict[str, Any]:
        frame = json.dumps({"jsonrpc": "2.0", "id": 1, "method": name, "params": {}})
        reply = await server.handle_frame(frame.encode(), peer, connection=None)
        assert reply is not None
        return json.loads(reply)

    for name, entry in METHODS.items():
        if role == "viewer" and required_role(entry) == "viewer":
            continue
        error = asyncio.run(ask(name))["error"]
        assert error["code"] == 1003, (name, error)
        assert error["data"]["user"] == "mallory"


FLOOD = r"""
import socket, sys
path, count = sys.argv[1], int(sys.argv[2])
for _ in range(count):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.connect(path)
    except OSError:
        pass  # the daemon's accept queue is full: the flood goes on
    sock.close()
"""


@pytest.mark.slow
def test_a_flood_of_refused_connects_does_not_keep_root_out(short_dir: Path) -> None:
    """An unlisted user connects and hangs up as fast as it can: every connect is
    refused, one log line says so, and root's calls still get through (billingctl's
    client waits for room in the accept queue)."""
    nobody = as_user(NOBODY)
    daemon = open_daemon(short_dir, "{admin: [root]}")
    flood = subprocess.Popen(
        [*nobody, sys.executable, "-I", "-c", FLOOD, str(daemon.socket), "20000"]
    )
    try:
        calls = 0
        while flood.poll() is None or calls < 5:
            with ControlClient(daemon.socket, timeout=30) as client:
                assert client.call("status")["version"]
            calls += 1
        assert flood.wait(60) == 0
        assert daemon.log_text().count("connection of nobody refused") <= 2
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
        daemon.stop()
