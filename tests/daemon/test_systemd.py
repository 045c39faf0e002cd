"""billingd.systemd against real sockets, and the unit files against systemd-analyze."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from billingd import systemd
from billingd.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's, named by ``$NOTIFY_SOCKET``."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


# --- sd_notify ------------------------------------------------------------------------------


def test_ready_delivers_ready_1(notify_socket: socket.socket) -> None:
    assert systemd.ready() is True
    assert received(notify_socket) == "READY=1"


def test_abstract_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"billingd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.ready() is True
        assert received(sock) == "READY=1"


def test_notify_without_notify_socket_returns_false() -> None:
    assert systemd.notify("READY=1") is False
    assert systemd.ready() is False


def test_notify_to_a_missing_socket_returns_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    assert systemd.ready() is False


def test_reloading_carries_monotonic_usec(notify_socket: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert systemd.reloading() is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = dict(line.split("=", 1) for line in received(notify_socket).splitlines())
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after


def test_stopping_status_and_watchdog_messages(notify_socket: socket.socket) -> None:
    assert systemd.stopping()
    assert received(notify_socket) == "STOPPING=1"
    assert systemd.status("run 12:\n40 invoices")
    assert received(notify_socket) == "STATUS=run 12: 40 invoices"
    assert systemd.watchdog_ping()
    assert received(notify_socket) == "WATCHDOG=1"


# --- watchdog ---------------------------------------------------------------------------------


def test_watchdog_interval_from_watchdog_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    assert systemd.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    assert systemd.watchdog_interval() == 60.0
    monkeypatch.setenv("WATCHDOG_USEC", "1500")
    assert systemd.watchdog_interval() == 0.0015


def test_watchdog_interval_honours_watchdog_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert systemd.watchdog_interval() is None


@pytest.mark.parametrize("usec", ["0", "-5", "soon", ""])
def test_watchdog_interval_ignores_bad_values(monkeypatch: pytest.MonkeyPatch, usec: str) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    assert systemd.watchdog_interval() is None


# --- socket activation -----------------------------------------------------------------------

# Runs in a child process so the passed sockets can sit on fds 3, 4, … as systemd
# puts them, without touching the descriptors pytest holds.
CHILD = r"""
import fcntl, json, os, socket, sys
from billingd import systemd

passed = [int(fd) for fd in sys.argv[1:]]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in passed]
for fd in passed:
    os.close(fd)
for target, fd in enumerate(high, start=systemd.LISTEN_FDS_START):
    os.dup2(fd, target)
    os.close(fd)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(passed)), LISTEN_FDNAMES="a:b")
sockets = systemd.listen_fds()
report = {
    "sockets": [
        [s.fileno(), s.family, s.type, s.getsockname(), os.get_inheritable(s.fileno())]
        for s in sockets
    ],
    "env": [name for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES") if name in os.environ],
}
connection, _ = sockets[0].accept()
connection.sendall(b"hello from fd 3")
print(json.dumps(report))
"""


def test_listen_fds_hands_over_passed_sockets(tmp_path: Path) -> None:
    stream_path, dgram_path = str(tmp_path / "ctl.sock"), str(tmp_path / "d.sock")
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dgram,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client,
    ):
        listener.bind(stream_path)
        listener.listen()
        dgram.bind(dgram_path)
        client.connect(stream_path)  # waits in the backlog for the child to accept
        fds = (listener.fileno(), dgram.fileno())
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.run(
            [sys.executable, "-c", CHILD, *map(str, fds)],
            pass_fds=fds,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert child.returncode == 0, child.stderr
        client.settimeout(5)
        assert client.recv(100) == b"hello from fd 3"
    report = json.loads(child.stdout)
    assert report["sockets"] == [
        [3, socket.AF_UNIX, socket.SOCK_STREAM, stream_path, False],
        [4, socket.AF_UNIX, socket.SOCK_DGRAM, dgram_path, False],
    ]
    assert report["env"] == []


def test_listen_fds_ignores_another_process_and_unsets_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    monkeypatch.setenv("LISTEN_FDS", "2")
    monkeypatch.setenv("LISTEN_FDNAMES", "a:b")
    assert systemd.listen_fds() == []
    assert not {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} & set(os.environ)


def test_listen_fds_without_activation_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    assert systemd.listen_fds() == []
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "many")
    assert systemd.listen_fds() == []


# --- unit files ---------------------------------------------------------------------------------


def unit_settings(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_service_unit_has_notify_watchdog_and_hardening() -> None:
    unit = unit_settings("billingd.service")
    expected = {
        "Type": "notify",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "WatchdogSec": "60",
        "Restart": "on-failure",
        "RuntimeDirectory": "billingd",
        "RuntimeDirectoryMode": "0750",
        "StateDirectory": "billingd",
        "User": "billingd",
        "Group": "billingd",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
    }
    assert {key: unit.get(key, [None])[-1] for key in expected} == expected
    assert unit["ExecStart"][0].endswith("billingd serve --config /etc/billingd/billingd.yaml")
    assert "PrivateUsers" not in unit  # it would hide the peers' uids from SO_PEERCRED


def test_socket_unit_matches_the_config_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    config = parse_config("")
    unit = unit_settings("billingd.socket")
    assert unit["ListenStream"] == [str(config.socket)]
    assert unit["SocketMode"] == [f"{config.socket_mode:04o}"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not on PATH"
)
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart exists; where billingd is not installed at the
    # unit's path, check a copy that runs /bin/true instead and nothing else changed.
    service = (UNITS / "billingd.service").read_text()
    binary = unit_settings("billingd.service")["ExecStart"][0].split()[0]
    if not os.access(binary, os.X_OK):
        service = service.replace(f"ExecStart={binary} ", "ExecStart=/bin/true ")
    (tmp_path / "billingd.service").write_text(service)
    shutil.copy(UNITS / "billingd.socket", tmp_path / "billingd.socket")
    result = subprocess.run(
        ["systemd-analyze", "verify", "billingd.service", "billingd.socket"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "billingd" in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr
