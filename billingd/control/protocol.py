"""JSON-RPC 2.0 framing: one JSON object per line, UTF-8."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from billingd.errors import INVALID_REQUEST, PARSE_ERROR, BillingError

DEFAULT_MAX_FRAME = 1024 * 1024
MAX_DEPTH = 32
"""Arrays and objects nested in a request, at most (the deepest billingd's own methods
take is a few levels); a deeper frame is refused before anything looks at it."""


class ProtocolError(BillingError):
    """A frame that is not a valid JSON-RPC request."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = "parse_error" if code == PARSE_ERROR else "invalid_request"


@dataclass(frozen=True, slots=True)
class Request:
    id: Any
    method: str
    params: dict[str, Any]

    @property
    def is_notification(self) -> bool:
        return self.id is None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# JSON numbers with a fraction stay exact (Decimal), so money sent as a number can be
# refused by name; NaN and Infinity (not JSON) are refused; one decoder for every frame
# (``json.loads`` with options builds one per call)
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constant)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def decode_request(frame: bytes) -> Request:
    """Parse one frame; raise ProtocolError (-32700 or -32600) for anything else.

    Not JSON, not UTF-8, a lone surrogate (``"\\ud800"``, which no UTF-8 text holds),
    NaN, an integer of more than 4,300 digits, or nesting too deep for the parser are
    parse errors (-32700); a message nested deeper than :data:`MAX_DEPTH` is an
    invalid request (-32600).
    """
    try:
        message = _DECODER.decode(frame.decode("utf-8"))
        if _SURROGATE_ESCAPE.search(frame):  # rare: only then look for an unpaired one
            json.dumps(message, ensure_ascii=False, default=str).encode("utf-8")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(PARSE_ERROR, f"parse error: {exc}") from None
    except UnicodeEncodeError:
        raise ProtocolError(PARSE_ERROR, "parse error: an unpaired surrogate escape") from None
    except ValueError as exc:  # NaN, Infinity; an integer too long to convert
        reason = str(exc) if "JSON" in str(exc) else "a number too long"
        raise ProtocolError(PARSE_ERROR, f"parse error: {reason}") from None
    except RecursionError:
        raise ProtocolError(PARSE_ERROR, "parse error: nested too deeply") from None
    if not isinstance(message, dict):
        raise ProtocolError(INVALID_REQUEST, "a request must be a JSON object")
    if frame.count(b"[") + frame.count(b"{") > MAX_DEPTH and _depth(message) > MAX_DEPTH:
        raise ProtocolError(
            INVALID_REQUEST, f"a request may nest arrays and objects {MAX_DEPTH} deep at most"
        )
    if message.get("jsonrpc") != "2.0":
        raise ProtocolError(INVALID_REQUEST, 'a request needs "jsonrpc": "2.0"')
    method = message.get("method")
    if not isinstance(method, str) or not method:
        raise ProtocolError(INVALID_REQUEST, "a request needs a method name")
    request_id = message.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, int | str)
    ):
        raise ProtocolError(INVALID_REQUEST, "id must be a string or an integer")
    params = message.get("params", {})
    if not isinstance(params, dict):
        raise ProtocolError(INVALID_REQUEST, "params must be an object of named parameters")
    return Request(request_id, method, params)


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value`` (1 for a flat object), without
    recursion; stops counting past :data:`MAX_DEPTH`."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


# dates and times go through ``str`` as with ``json``, so a value reads the same either way
ORJSON_OPTIONS = (
    orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
)


def encode(message: dict[str, Any]) -> bytes:
    """One frame. orjson writes a page of clients ~10x faster than ``json``; what it
    refuses (an integer over 64 bits, say an echoed request id) takes the slow path."""
    try:
        return orjson.dumps(message, default=str, option=ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n"


def result_frame(request_id: Any, result: Any) -> bytes:
    return encode({"jsonrpc": "2.0", "id": request_id, "result": result})


def error_frame(request_id: Any, error: BillingError) -> bytes:
    return encode({"jsonrpc": "2.0", "id": request_id, "error": error.to_error()})


def notification_frame(method: str, params: dict[str, Any]) -> bytes:
    return encode({"jsonrpc": "2.0", "method": method, "params": params})
