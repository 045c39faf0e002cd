"""Bad input over the real socket: a clear error, nothing written, still serving (SPEC §12)."""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import pytest

from tests.conftest import RunningDaemon


def _state(daemon: RunningDaemon) -> tuple[int, int, int]:
    return (
        len(daemon.call("client.list")),
        len(daemon.call("audit.list")),
        len(daemon.call("invoice.list")),
    )


def _frame(method: str, params: Any = None, request_id: Any = 1) -> bytes:
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode() + b"\n"


@pytest.fixture(scope="module")
def seeded(module_daemon: RunningDaemon) -> RunningDaemon:
    """One client; the module's tests are all refused or read, so they share it."""
    daemon = module_daemon
    enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR")
    daemon.call("client.add", name="Jane", enterprise=enterprise["id"])
    return daemon


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"{not json\n", -32700),
        (b"\xff\xfe\n", -32700),
        (b"[1, 2]\n", -32600),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "status"}\n', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "status", "params": [1]}\n', -32600),
        (_frame("no.such.method"), -32601),
        (_frame("client.add", {"name": "X", "enterprise": "one"}), -32602),
        (_frame("client.add", {"name": "X", "enterprise": 1, "bogus": 1}), -32602),
        (_frame("client.add", {"name": "", "enterprise": 1}), -32602),
        (_frame("client.add", {"name": "X", "enterprise": 99}), 1001),
        (_frame("client.add", {"name": "X", "enterprise": 1, "currency": "XYZ"}), -32602),
        (
            _frame(
                "contract.add",
                {
                    "client": 1,
                    "description": "D",
                    "price": 10.5,
                    "cycle": "month",
                    "start": "2026-01-01",
                },
            ),
            -32602,
        ),
        (
            _frame(
                "contract.add",
                {
                    "client": 1,
                    "description": "D",
                    "price": "-1",
                    "cycle": "month",
                    "start": "2026-01-01",
                },
            ),
            -32602,
        ),
        (
            _frame(
                "contract.add",
                {
                    "client": 1,
                    "description": "D",
                    "price": "1.001",
                    "cycle": "month",
                    "start": "2026-01-01",
                },
            ),
            -32602,
        ),
        (
            _frame(
                "contract.add",
                {
                    "client": 1,
                    "description": "D",
                    "price": "1",
                    "cycle": "fortnight",
                    "start": "2026-01-01",
                },
            ),
            -32602,
        ),
        (
            _frame(
                "contract.add",
                {
                    "client": 1,
                    "description": "D",
                    "price": "1",
                    "cycle": "month",
                    "start": "2026-02-30",
                },
            ),
            -32602,
        ),
        (_frame("invoice.amount", {"client": 1, "date": "2026-01-01", "amount": "-5"}), -32602),
        (_frame("invoice.amount", {"client": 1, "date": "2026-01-01", "amount": 5.0}), -32602),
        (
            _frame(
                "invoice.amount", {"client": 1, "reseller": 1, "date": "2026-01-01", "amount": "5"}
            ),
            1002,
        ),
        (
            _frame(
                "invoice.period",
                {"client": 1, "from": "2026-01-01", "to": "2026-01-31", "document": False},
            ),
            1002,
        ),
        (_frame("invoice.show", {"invoice": "NOPE-1"}), 1001),
        (_frame("enterprise.add", {"name": "E", "currency": "EUR", "pattern": "%year%"}), 1002),
        (
            _frame(
                "usage.import",
                {
                    "records": [
                        {
                            "client": 1,
                            "occurred_at": "yesterday",
                            "destination_group": "G",
                            "quantity": "1",
                            "amount": "1",
                        }
                    ]
                },
            ),
            -32602,
        ),
    ],
)
def test_bad_frames_are_refused_and_write_nothing(
    seeded: RunningDaemon, frame: bytes, code: int
) -> None:
    before = _state(seeded)
    reply = seeded.raw(frame)
    assert reply["error"]["code"] == code, reply
    assert reply["error"]["message"]
    assert _state(seeded) == before
    assert seeded.call("status")["clients"] == 1


def test_connection_keeps_serving_after_errors(seeded: RunningDaemon) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(seeded.socket))
        stream = sock.makefile("rb")
        for frame in (b"garbage\n", _frame("nope"), _frame("status", request_id="s")):
            sock.sendall(frame)
        replies = [json.loads(stream.readline()) for _ in range(3)]
    assert [r.get("error", {}).get("code") for r in replies[:2]] == [-32700, -32601]
    assert replies[2]["id"] == "s" and replies[2]["result"]["clients"] == 1


def test_oversize_frame_refused_daemon_keeps_serving(seeded: RunningDaemon) -> None:
    huge = b'{"jsonrpc": "2.0", "id": 1, "method": "status", "pad": "' + b"x" * (2 << 20) + b'"}\n'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(seeded.socket))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(huge)
        reply = json.loads(sock.makefile("rb").readline())
    assert reply["error"]["code"] == 1005
    assert seeded.call("status")["clients"] == 1


def test_notification_gets_no_reply(seeded: RunningDaemon) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(seeded.socket))
        sock.sendall(_frame("status", request_id=None) + _frame("status", request_id=7))
        reply = json.loads(sock.makefile("rb").readline())
    assert reply["id"] == 7
