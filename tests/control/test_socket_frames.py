"""Malformed frames through the real socket (SPEC §12, issue 14): each gets a JSON-RPC
error, -32700 (not UTF-8 JSON) or -32600 (not a request), and the connection that
sent it keeps serving; the daemon logs no traceback.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from billingd.control.protocol import MAX_DEPTH
from tests.conftest import RunningDaemon

STATUS = b'{"jsonrpc": "2.0", "id": "after", "method": "status"}\n'


def _call(method: str, params: bytes) -> bytes:
    return (
        b'{"jsonrpc": "2.0", "id": 7, "method": "'
        + method.encode()
        + b'", "params": '
        + params
        + b"}"
    )


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


FRAMES: list[tuple[str, bytes, int]] = [
    ("array 1,000 deep", _nested(1000), -32700),
    ("params 1,000 deep", _call("client.list", b'{"search": ' + _nested(1000) + b"}"), -32700),
    ("objects 1,000 deep", b'{"a": ' * 1000 + b"1" + b"}" * 1000, -32700),
    ("params 100 deep", _call("client.list", b'{"search": ' + _nested(100) + b"}"), -32600),
    ("just too deep", _call("client.list", b'{"s": ' + _nested(MAX_DEPTH - 1) + b"}"), -32600),
    ("invalid UTF-8", b'{"jsonrpc": "2.0", "id": 7, "method": "st\xffatus"}', -32700),
    ("overlong UTF-8", b'{"jsonrpc": "2.0", "id": 7, "method": "\xc0\xafstatus"}', -32700),
    ("lone surrogate", _call("client.list", b'{"search": "\\ud800"}'), -32700),
    ("lone low surrogate", _call("client.list", b'{"search": "a\\udc00b"}'), -32700),
    (
        "5,000-digit id",
        b'{"jsonrpc": "2.0", "id": ' + b"9" * 5000 + b', "method": "status"}',
        -32700,
    ),
    ("5,000-digit param", _call("client.show", b'{"id": ' + b"1" * 5000 + b"}"), -32700),
    ("NaN", _call("invoice.amount", b'{"amount": NaN}'), -32700),
    ("Infinity", _call("invoice.amount", b'{"amount": -Infinity}'), -32700),
    ("a raw NUL", b'{"jsonrpc": "2.0", "id": 7, "method": "sta\x00tus"}', -32700),
    ("a raw escape", b'{"jsonrpc": "2.0", "id": 7, "method": "\x1b]0;x\x07"}', -32700),
    ("a batch", b'[{"jsonrpc": "2.0", "id": 7, "method": "status"}]', -32600),
    ("an array", b"[1, 2]", -32600),
    ("a string", b'"status"', -32600),
    ("a number", b"42", -32600),
    ("null", b"null", -32600),
    ("true", b"true", -32600),
    ("an empty object", b"{}", -32600),
    ("no jsonrpc", b'{"id": 7, "method": "status"}', -32600),
    ("jsonrpc 1.0", b'{"jsonrpc": "1.0", "id": 7, "method": "status"}', -32600),
    ("method a number", b'{"jsonrpc": "2.0", "id": 7, "method": 5}', -32600),
    ("id an object", b'{"jsonrpc": "2.0", "id": {}, "method": "status"}', -32600),
    ("id a float", b'{"jsonrpc": "2.0", "id": 1.5, "method": "status"}', -32600),
    ("id true", b'{"jsonrpc": "2.0", "id": true, "method": "status"}', -32600),
    ("params an array", b'{"jsonrpc": "2.0", "id": 7, "method": "status", "params": [1]}', -32600),
    ("half a document", b'{"jsonrpc": "2.0", "id": 7, "meth', -32700),
    ("trailing garbage", b'{"jsonrpc": "2.0", "id": 7, "method": "status"} x', -32700),
    ("a BOM", b'\xef\xbb\xbf{"jsonrpc": "2.0", "id": 7, "method": "status"}', -32700),
    ("UTF-16", '{"jsonrpc": "2.0"}'.encode("utf-16"), -32700),
]
"""(what, frame without its newline, the code it must get)"""


class Line:
    def __init__(self, daemon: RunningDaemon) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(daemon.socket))
        self.lines = self.sock.makefile("rb")

    def ask(self, frame: bytes) -> dict[str, Any]:
        self.sock.sendall(frame + b"\n")
        line = self.lines.readline()
        assert line, "the daemon closed the connection"
        return json.loads(line)


def test_malformed_frames_get_an_error_and_the_connection_stays(
    module_daemon: RunningDaemon,
) -> None:
    line = Line(module_daemon)
    for what, frame, code in FRAMES:
        reply = line.ask(frame)
        assert reply.get("error", {}).get("code") == code, (what, reply)
        assert reply["id"] is None, (what, reply)
        assert reply["error"]["data"]["reason"] in ("parse_error", "invalid_request"), what
        after = line.ask(STATUS)
        assert after["id"] == "after" and after["result"]["version"], (what, after)
    log = module_daemon.log_text()
    assert "Traceback" not in log and "RecursionError" not in log, log[-3000:]


def test_deep_nesting_message_names_the_limit(module_daemon: RunningDaemon) -> None:
    line = Line(module_daemon)
    deep = line.ask(_call("client.list", b'{"search": ' + _nested(40) + b"}"))
    assert f"{MAX_DEPTH} deep" in deep["error"]["message"]
    shallow = line.ask(_call("client.list", b'{"search": ' + _nested(3) + b"}"))
    assert shallow["error"]["code"] == -32602  # past the framing: the parameter is refused
    assert shallow["error"]["data"]["field"] == "search"


def test_huge_numbers_inside_the_parsers_limit_are_validation_errors(
    module_daemon: RunningDaemon,
) -> None:
    line = Line(module_daemon)
    for params in (b'{"id": ' + b"9" * 4000 + b"}", b'{"id": 1e400}', b'{"id": -1e-400}'):
        reply = line.ask(_call("client.show", params))
        assert reply["error"]["code"] in (-32602, 1001), reply
    big_id = line.ask(b'{"jsonrpc": "2.0", "id": ' + b"9" * 400 + b', "method": "status"}')
    assert big_id["id"] == int("9" * 400)  # echoed exactly


def test_an_escaped_surrogate_pair_is_text(module_daemon: RunningDaemon) -> None:
    """``\\ud83d\\ude00`` is one character (😀), beside a number with a fraction too."""
    line = Line(module_daemon)
    reply = line.ask(_call("client.list", b'{"search": "\\ud83d\\ude00", "limit": 1.5}'))
    assert reply["id"] == 7 and reply["error"]["code"] == -32602, reply
    found = line.ask(_call("client.list", b'{"search": "\\ud83d\\ude00"}'))
    assert found == {"jsonrpc": "2.0", "id": 7, "result": []}
