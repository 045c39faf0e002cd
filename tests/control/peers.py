"""Clients as other Unix users (SO_PEERCRED then reports them): a real daemon runs as
root, the client runs under ``setpriv`` as another uid, stdlib only."""

from __future__ import annotations

import functools
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningDaemon

NOBODY = 65534

# The frames in argv[2] are sent one by one on one connection; every reply (and event
# notification, with "wait_events") is printed as a JSON line.
CLIENT = r"""
import json, socket, sys
path, steps = sys.argv[1], json.loads(sys.argv[2])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(20)
sock.connect(path)
stream = sock.makefile("rb")
for number, (method, params) in enumerate(steps, 1):
    if method == "wait_events":
        for _ in range(params):
            print(stream.readline().decode().strip(), flush=True)
        continue
    frame = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
    sock.sendall(json.dumps(frame).encode() + b"\n")
    while True:
        reply = json.loads(stream.readline())
        print(json.dumps(reply), flush=True)
        if "id" in reply:
            break
"""

# Opens argv[2] connections one after the other, asks each for the status, prints the
# first frame each gets (its reply, or the refusal the daemon sent as it closed it),
# then holds them all open until stdin closes.
HOLDER = r"""
import socket, sys
path, count = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(count):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(path)
    try:
        sock.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "status"}\n')
    except OSError:
        pass  # refused and closed already: its refusal is still there to read
    print(sock.makefile("rb").readline().decode().strip(), flush=True)
    held.append(sock)
sys.stdin.readline()
"""


@functools.cache
def as_user_prefix(uid: int) -> list[str] | None:
    """A command prefix that runs ``sys.executable`` as ``uid`` (and gid ``uid``), or None."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--reuid", str(uid), "--regid", str(uid), "--clear-groups"]
    probe = ["-I", "-c", "import os; print(os.getuid(), os.getgid())"]
    try:
        done = subprocess.run(
            [*prefix, sys.executable, *probe], capture_output=True, text=True, timeout=30
        )
    except OSError:
        return None
    if done.returncode == 0 and done.stdout.split() == [str(uid), str(uid)]:
        return prefix
    return None


def user_name(uid: int) -> str:
    """The name the daemon gives the peer ``uid`` (``uid:N`` when it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def as_user(uid: int) -> list[str]:
    """``as_user_prefix(uid)``, or skip the test when that cannot be done here."""
    if os.geteuid() != 0:
        pytest.skip(f"needs root: the test runs a client as uid {uid}")
    prefix = as_user_prefix(uid)
    if prefix is None:
        pytest.skip(f"cannot run a process as uid {uid} here (no usable setpriv)")
    return prefix


def open_daemon(folder: Path, access: str, extra: str = "") -> RunningDaemon:
    """A daemon whose socket every user reaches, with ``access`` (YAML flow mapping)."""
    folder.chmod(0o755)  # the clients (other users) must reach the socket
    return RunningDaemon(
        folder,
        f"sqlite:///{folder / 'billing.db'}",
        f'socket_mode: "0666"\naccess: {access}\n{extra}',
    )


def run_as(
    prefix: list[str], daemon: RunningDaemon, steps: list[tuple[str, Any]]
) -> list[dict[str, Any]]:
    """The replies to ``steps`` sent on one connection as the user of ``prefix``."""
    done = subprocess.run(
        [*prefix, sys.executable, "-I", "-c", CLIENT, str(daemon.socket), json.dumps(steps)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


class Holder:
    """``count`` connections a user opens and holds until :meth:`release`."""

    def __init__(self, prefix: list[str], daemon: RunningDaemon, count: int) -> None:
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-I", "-c", HOLDER, str(daemon.socket), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.first_frames = [json.loads(self.process.stdout.readline()) for _ in range(count)]

    def served(self) -> int:
        return sum("result" in frame for frame in self.first_frames)

    def refusals(self) -> list[dict[str, Any]]:
        return [frame["error"] for frame in self.first_frames if "error" in frame]

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
