"""Random frames against a real daemon (SPEC §12): it never dies, always answers in
JSON-RPC, and a refused call writes nothing.

Frames are random bytes, random JSON values, and calls of registered methods with
random parameters of random types, all on one connection (a new one when the
daemon closes it, e.g. after an oversize frame). Every write records an audit
event, so the audit trail's length before and after a refused call must match.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingd.control import api  # noqa: F401  (registers the methods)
from billingd.control.client import ControlClient
from billingd.control.protocol import ProtocolError, decode_request
from billingd.control.registry import METHODS
from tests.conftest import RunningDaemon
from tests.conftest import audit_length as audit_without_documents
from tests.lanes import examples

MAX_FRAME = 2048
NAMES = sorted(METHODS)
SMALL_ONLY = {"count", "limit", "offset", "interval", "quantity"}  # big values mean big work

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 20),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=20),
    st.sampled_from(
        ["2026-01-01", "2026-02-30", "1.00", "-1", "0.001", "EUR", "XYZ", "month", "1,15", "", "1"]
    ),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
big_ints = st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**20])
small_ids = st.integers(-1, 4)
TYPED = {  # Param.type_name -> values that are often valid, so calls get past validation
    "integer": small_ids,
    "integer ≥ 1": small_ids,
    "string": st.sampled_from(["Acme", "EUR", "month", "advance", "1,15", "x@example.com", ""])
    | st.text(max_size=12),
    "boolean": st.booleans(),
    "date": st.sampled_from(["2026-01-01", "2026-01-31", "2026-02-28", "2025-12-31", "2026-13-01"]),
    "decimal string": st.sampled_from(["1.00", "119.00", "0", "19", "-5", "0.001", "1e3", "abc"]),
    "id or number": small_ids | st.sampled_from(["1", "100001", "NOPE-1"]),
    "list": st.lists(json_values, max_size=3),
    "object": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
}


usually = st.sampled_from([True] * 9 + [False])  # (hypothesis favours the first)


@st.composite
def calls(draw: st.DrawFn) -> tuple[bytes, Any]:
    """A well-formed request for a registered (or unknown) method with random params."""
    name = draw(st.sampled_from([*NAMES, "nope", "client.", "status "]))
    spec = METHODS[name].params if name in METHODS else {}
    params: dict[str, Any] = {}
    for key, param in spec.items():
        if not draw(usually if param.required else st.booleans()):
            continue  # left out (a required one now and then)
        typed = TYPED.get(param.type_name, json_values)
        if key in SMALL_ONLY:  # big values would mean big work, e.g. a million invoices
            values = st.one_of(typed, typed, typed, json_values)
        else:
            values = st.one_of(typed, typed, typed, json_values, big_ints)
        params[key] = draw(values)
    if not draw(usually):
        params[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    request_id = draw(st.integers(0, 2**40) | st.text(max_size=10))
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": name}
    if params or draw(st.booleans()):
        message["params"] = params
    return json.dumps(message).encode() + b"\n", request_id


raw_bytes = st.binary(max_size=MAX_FRAME + 500).map(lambda b: (b.replace(b"\n", b"") + b"\n", None))
raw_json = json_values.map(lambda v: (json.dumps(v).encode() + b"\n", None))
nested = st.integers(1, 1200).map(  # too deep to parse, too deep to take, or a bad param
    lambda n: (
        b'{"jsonrpc": "2.0", "id": 1, "method": "client.list", "params": {"search": '
        + b"[" * n
        + b"]" * n
        + b"}}\n",
        None,
    )
)
frames = st.one_of(calls(), calls(), calls(), raw_bytes, raw_json, nested)


class Line:
    """One fuzzing connection; reconnects after the daemon closes it."""

    def __init__(self, daemon: RunningDaemon) -> None:
        self.daemon = daemon
        self.sock: socket.socket | None = None
        self.buffer = b""

    def send(self, frame: bytes) -> None:
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(30)
            self.sock.connect(str(self.daemon.socket))
            self.buffer = b""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.sock.sendall(frame)

    def reply(self) -> dict[str, Any]:
        """The next response, skipping event notifications (a fuzzed ``subscribe``)."""
        while True:
            message = json.loads(self._line())
            if message.get("method") == "event" and "id" not in message:
                continue
            return message

    def _line(self) -> bytes:
        assert self.sock is not None
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def closed_by_daemon(self) -> None:
        """After an oversize frame: the daemon closes; start afresh next time."""
        assert self.sock is not None
        self.sock.settimeout(10)
        with contextlib.suppress(ConnectionError, OSError):
            while self.sock.recv(65536):
                pass
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def _expects_reply(frame: bytes) -> bool:
    """Blank lines and notifications (no id) get no reply; everything else gets one."""
    if not frame.strip():
        return False
    try:
        return not decode_request(frame.rstrip(b"\n")).is_notification
    except ProtocolError:
        return True


def _check_response(reply: dict[str, Any], request_id: Any) -> None:
    assert reply.get("jsonrpc") == "2.0", reply
    assert ("result" in reply) != ("error" in reply), reply
    assert set(reply) <= {"jsonrpc", "id", "result", "error"}, reply
    if request_id is not None:
        assert reply["id"] == request_id, reply
    if "error" in reply:
        error = reply["error"]
        assert isinstance(error["code"], int) and not isinstance(error["code"], bool), reply
        assert isinstance(error["message"], str) and error["message"], reply
        assert isinstance(error.get("data", {}).get("reason"), str), reply


@pytest.fixture
def fuzzed(short_dir: Path) -> Iterator[RunningDaemon]:
    running = RunningDaemon(
        short_dir, f"sqlite:///{short_dir / 'billing.db'}", f"max_frame_bytes: {MAX_FRAME}\n"
    )
    enterprise = running.call("enterprise.add", name="Acme", currency="EUR")
    client = running.call("client.add", name="Jane", enterprise=enterprise["id"])
    running.call("invoice.amount", client=client["id"], date="2026-01-05", amount="119.00")
    yield running
    running.stop()


def test_random_frames_never_hurt_the_daemon(fuzzed: RunningDaemon) -> None:
    line = Line(fuzzed)
    observer = ControlClient(fuzzed.socket, timeout=30)
    internal: list[tuple[bytes, dict[str, Any]]] = []
    dirty = [False]  # a write went through: background work (a run) may still be writing

    def audit_length() -> int:  # (an earlier call's document is rendered at any moment)
        return audit_without_documents(fuzzed)

    def settled_audit_length() -> int:
        """The audit trail's length once runs started by earlier writes have finished."""
        last = audit_length()
        if not dirty[0]:
            return last
        for _ in range(200):
            time.sleep(0.05)
            running = "run.list" in METHODS and any(
                r["status"] == "running" for r in observer.call("run.list", limit=5)
            )
            now = audit_length()
            if now == last and not running:
                break
            last = now
        dirty[0] = False
        return last

    @settings(
        max_examples=examples(200),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(frames)
    def throw(case: tuple[bytes, Any]) -> None:
        frame, request_id = case
        before = settled_audit_length()
        line.send(frame)
        if len(frame) > MAX_FRAME:
            reply = line.reply()
            assert reply["error"]["code"] == 1005, reply
            line.closed_by_daemon()
            assert audit_length() == before
            return
        if not _expects_reply(frame):
            dirty[0] = True  # a notification may have written something
            return
        reply = line.reply()
        _check_response(reply, request_id)
        if "error" in reply:
            if reply["error"]["code"] == -32603:
                internal.append((frame, reply))
            assert audit_length() == before, (frame, reply)
        else:
            dirty[0] = True

    try:
        throw()
    finally:
        line.close()
        observer.close()
    assert fuzzed.process.poll() is None, fuzzed.log_text()
    assert fuzzed.call("status")["clients"] >= 1
    assert not internal, f"internal errors (bugs) for frames: {internal[:5]}"
