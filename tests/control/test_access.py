"""Access control on the socket (SPEC §12): the peer's uid decides the role and is the actor.

The end-to-end tests run a real daemon as root and a client as uid 65534
(``nobody``) in a subprocess, so SO_PEERCRED reports a different user.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billingd.config import parse_config
from billingd.control.events import per_connection
from billingd.control.peer import Peer
from billingd.control.registry import METHODS, Method
from billingd.control.server import ControlServer
from tests.conftest import RunningDaemon
from tests.control.peers import (
    CLIENT,
    NOBODY,
    Holder,
    as_user,
    open_daemon,
    run_as,
    user_name,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def as_nobody() -> list[str]:
    return as_user(NOBODY)


def _nobody_name() -> str:
    return user_name(NOBODY)


@pytest.fixture
def seeded_viewer(short_dir: Path, as_nobody: list[str]) -> Iterator[RunningDaemon]:
    name = _nobody_name()
    running = open_daemon(short_dir, f"{{admin: [root], viewer: [{json.dumps(name)}]}}")
    enterprise = running.call("enterprise.add", name="Acme", currency="EUR")
    running.call("client.add", name="Jane", enterprise=enterprise["id"])
    yield running
    running.stop()


def _counts(daemon: RunningDaemon) -> tuple[int, int]:
    return len(daemon.call("client.list")), len(daemon.call("audit.list", limit=5000))


def test_viewer_reads_but_cannot_write(seeded_viewer: RunningDaemon, as_nobody: list[str]) -> None:
    before = _counts(seeded_viewer)
    status, listed, refused, shown = run_as(
        as_nobody,
        seeded_viewer,
        [
            ("status", {}),
            ("client.list", {}),
            ("client.add", {"name": "Mallory", "enterprise": 1}),
            ("client.show", {"id": 1}),
        ],
    )
    assert status["result"]["actor"] == _nobody_name()
    assert [c["name"] for c in listed["result"]] == ["Jane"]
    assert refused["error"]["code"] == 1003
    assert refused["error"]["data"]["reason"] == "permission_denied"
    assert refused["error"]["data"]["user"] == _nobody_name()
    assert _nobody_name() in refused["error"]["message"]
    assert "viewer" in refused["error"]["message"]
    assert shown["result"]["name"] == "Jane"  # the connection keeps serving
    assert _counts(seeded_viewer) == before


def test_viewer_may_subscribe_to_events(seeded_viewer: RunningDaemon, as_nobody: list[str]) -> None:
    process = subprocess.Popen(
        [
            *as_nobody,
            sys.executable,
            "-I",
            "-c",
            CLIENT,
            str(seeded_viewer.socket),
            json.dumps([("subscribe", {"events": ["invoice."]}), ("wait_events", 1)]),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        subscribed = json.loads(process.stdout.readline())
        assert subscribed["result"]["subscribed"] == ["invoice."]
        seeded_viewer.call("invoice.amount", client=1, date="2026-01-05", amount="119.00")
        event = json.loads(process.stdout.readline())
        assert event["method"] == "event"
        assert event["params"]["name"] == "invoice.issued"
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_user_without_a_role_is_refused_as_it_connects(
    short_dir: Path, as_nobody: list[str]
) -> None:
    daemon = open_daemon(short_dir, "{admin: [root]}", "max_connections: 2\n")
    try:
        daemon.call("enterprise.add", name="Acme", currency="EUR")
        before = len(daemon.call("audit.list"))
        unlisted = Holder(as_nobody, daemon, 5)  # more than max_connections, all held open
        try:
            assert unlisted.served() == 0
            for error in unlisted.refusals():
                assert error["code"] == 1003, error
                assert error["data"] == {"reason": "permission_denied", "user": _nobody_name()}
                assert _nobody_name() in error["message"] and "no role" in error["message"]
            # it took no slot: root still gets both (and the refused were closed)
            root = Holder([], daemon, 2)
            assert root.served() == 2
            root.release()
        finally:
            unlisted.release()
        assert len(daemon.call("audit.list")) == before
        assert [e["name"] for e in daemon.call("enterprise.list")] == ["Acme"]
    finally:
        daemon.stop()


def test_audit_actor_is_the_peer_user(short_dir: Path, as_nobody: list[str]) -> None:
    name = _nobody_name()
    daemon = open_daemon(short_dir, f"{{admin: [root], operator: [{json.dumps(name)}]}}")
    try:
        enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR")
        (added,) = run_as(
            as_nobody, daemon, [("client.add", {"name": "Jane", "enterprise": enterprise["id"]})]
        )
        assert added["result"]["name"] == "Jane"
        actors = {e["event"]: e["actor"] for e in daemon.call("audit.list")}
        assert actors == {"enterprise.created": "root", "client.created": name}
    finally:
        daemon.stop()


def test_billingctl_as_viewer_exits_1_on_a_write(
    seeded_viewer: RunningDaemon, as_nobody: list[str]
) -> None:
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); from billingd.ctl import main; "
        "raise SystemExit(main(sys.argv[1:]))"
    )
    base = [*as_nobody, sys.executable, "-I", "-c", script, "--socket", str(seeded_viewer.socket)]
    probe = subprocess.run([*base, "--json", "status"], capture_output=True, text=True, timeout=60)
    if "ModuleNotFoundError" in probe.stderr:
        pytest.skip(f"billingd is not importable as uid {NOBODY}: {probe.stderr.strip()}")
    assert probe.returncode == 0, probe.stderr
    done = subprocess.run(
        [*base, "--json", "client", "add", "--name", "M", "--enterprise", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert json.loads(done.stdout)["error"]["code"] == 1003
    assert len(seeded_viewer.call("client.list")) == 1


def test_reload_that_revokes_access_drops_the_subscriber(
    seeded_viewer: RunningDaemon, as_nobody: list[str]
) -> None:
    process = subprocess.Popen(
        [
            *as_nobody,
            sys.executable,
            "-I",
            "-c",
            CLIENT,
            str(seeded_viewer.socket),
            json.dumps([("subscribe", {}), ("wait_events", 1), ("status", {})]),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "result" in json.loads(process.stdout.readline())
        config = seeded_viewer.config_path
        config.write_text(
            config.read_text().replace(f"viewer: [{json.dumps(_nobody_name())}]", "viewer: []")
        )
        seeded_viewer.process.send_signal(signal.SIGHUP)
        dropped = json.loads(process.stdout.readline())
        assert dropped["params"]["name"] == "events.dropped"
        assert dropped["params"]["payload"]["reason"] == "access_revoked"
        status = json.loads(process.stdout.readline())
        assert status["error"]["code"] == 1003
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- the role check itself, in process ------------------------------------------------------


@pytest.fixture
def probe_methods() -> Iterator[None]:
    """Throwaway methods at each access level, answered on the event loop."""

    @per_connection
    def answer(connection: Any) -> str:
        return "ok"

    added = {
        "test.read": Method("test.read", answer, {}, False, "read", "ok"),
        "test.write": Method("test.write", answer, {}, True, "write", "ok"),
        "test.admin": Method("test.admin", answer, {}, True, "admin", "ok", admin_only=True),
    }
    METHODS.update(added)
    try:
        yield
    finally:
        for name in added:
            METHODS.pop(name, None)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (None, set()),
        ("viewer", {"test.read"}),
        ("operator", {"test.read", "test.write"}),
        ("admin", {"test.read", "test.write", "test.admin"}),
    ],
)
def test_role_matrix(probe_methods: None, role: str | None, allowed: set[str]) -> None:
    server = ControlServer(None, None, lambda user, groups: role)  # type: ignore[arg-type]
    peer = Peer(1, 1000, 1000, "alice", ("staff",), role)

    async def ask(name: str) -> dict[str, Any]:
        frame = json.dumps({"jsonrpc": "2.0", "id": 1, "method": name}).encode()
        reply = await server.handle_frame(frame, peer, connection=object())  # type: ignore[arg-type]
        assert reply is not None
        return json.loads(reply)

    for name in ("test.read", "test.write", "test.admin"):
        reply = asyncio.run(ask(name))
        if name in allowed:
            assert reply["result"] == "ok", (role, name, reply)
        else:
            assert reply["error"]["code"] == 1003, (role, name, reply)
            assert "alice" in reply["error"]["message"]


def test_role_is_checked_per_request_so_a_reload_applies(probe_methods: None) -> None:
    roles = {"alice": "operator"}
    server = ControlServer(None, None, lambda user, groups: roles.get(user))  # type: ignore[arg-type]
    peer = Peer(1, 1000, 1000, "alice", (), "operator")
    frame = b'{"jsonrpc": "2.0", "id": 1, "method": "test.write"}'

    async def ask() -> dict[str, Any]:
        return json.loads(await server.handle_frame(frame, peer, connection=object()))  # type: ignore[arg-type]

    assert asyncio.run(ask())["result"] == "ok"
    roles["alice"] = "viewer"
    assert asyncio.run(ask())["error"]["code"] == 1003


# --- the daemon's own user ------------------------------------------------------------------


def _unstarted_daemon(config_text: str, own_user: str = "alice", source: str = "<string>") -> Any:
    """A Daemon with just a config, no plugins and no database (nothing opened or
    started): enough to resolve roles and reload the config."""
    from billingd.daemon import Daemon
    from billingd.plugins import PluginHost
    from billingd.services.context import ServiceContext

    config = parse_config(config_text, source)
    return Daemon(config, None, PluginHost(), ServiceContext(), None, own_user=own_user)  # type: ignore[arg-type]


def _resolve(config_text: str, user: str, euid: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    return _unstarted_daemon(config_text).resolve_role(user, ())


def test_own_user_is_admin_of_a_personal_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _resolve("", "alice", 1000, monkeypatch) == "admin"
    assert _resolve("access: {viewer: [alice]}", "alice", 1000, monkeypatch) == "admin"
    assert _resolve("", "bob", 1000, monkeypatch) is None
    assert _resolve("", "root", 1000, monkeypatch) == "admin"


def test_explicit_admins_override_the_own_user_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _resolve("access: {admin: [carol]}", "alice", 1000, monkeypatch) is None
    text = "access: {admin: [carol], operator: [alice]}"
    assert _resolve(text, "alice", 1000, monkeypatch) == "operator"


def test_root_daemon_gives_no_extra_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    # A root daemon's "own user" is root, already admin by default; nobody else gains.
    assert _resolve("", "alice", 0, monkeypatch) is None


def test_roles_are_resolved_again_after_a_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billingd.daemon import reload_config

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    file = tmp_path / "billingd.yaml"
    file.write_text("access: {operator: [bob]}\n")
    daemon = _unstarted_daemon(file.read_text(), source=str(file))
    assert daemon.resolve_role("bob", ()) == "operator"
    assert daemon.resolve_role("bob", ()) == "operator"  # (answered from the cache)
    file.write_text("access: {viewer: [bob]}\n")
    reload_config(daemon)
    assert daemon.resolve_role("bob", ()) == "viewer"
    file.write_text("access: {viewer: [bob\n")  # a bad file: the running config stays
    reload_config(daemon)
    assert daemon.resolve_role("bob", ()) == "viewer"


def test_daemon_knows_its_own_user() -> None:
    from billingd.daemon import _own_user

    assert _own_user() == pwd.getpwuid(os.geteuid()).pw_name
