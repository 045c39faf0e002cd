"""JSON-RPC 2.0 framing: one JSON object per line, UTF-8."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from billingd.errors import INVALID_REQUEST, PARSE_ERROR, BillingError

DEFAULT_MAX_FRAME = 1024 * 1024


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


# JSON numbers with a fraction stay exact (Decimal), so money sent as a number can be
# refused by name; one decoder for every frame (``json.loads`` with options builds one
# per call)
_DECODER = json.JSONDecoder(parse_float=Decimal)


def decode_request(frame: bytes) -> Request:
    """Parse one frame; raise ProtocolError (-32700 or -32600) for anything else."""
    try:
        message = _DECODER.decode(frame.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(PARSE_ERROR, f"parse error: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(INVALID_REQUEST, "a request must be a JSON object")
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
