"""A blocking control-socket client, shared by billingctl and the TUI."""

from __future__ import annotations

import itertools
import json
import os
import socket
from pathlib import Path
from typing import Any


class ConnectionFailed(Exception):
    """The daemon is not reachable on the socket (not running, wrong path, no access)."""


class RemoteError(Exception):
    """The daemon refused a call; ``code``, ``message`` and ``data`` come from the error frame."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "error"))
        self.code: int = error.get("code", 0)
        self.message: str = error.get("message", "")
        self.data: dict[str, Any] = error.get("data") or {}

    def to_error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


def default_socket_path() -> Path:
    """``$BILLINGD_SOCKET``, or the configured socket of the default config."""
    env = os.environ.get("BILLINGD_SOCKET")
    if env:
        return Path(env)
    from billingd.config import load_config

    return load_config().socket


class ControlClient:
    """Calls methods over one connection; safe to reuse, not to share between threads."""

    def __init__(self, path: Path | str, timeout: float | None = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._file: Any = None

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except FileNotFoundError:
            sock.close()
            raise ConnectionFailed(
                f"no daemon socket at {self.path}: is billingd running? "
                "(start it with 'billingd serve', or pass --socket)"
            ) from None
        except PermissionError:
            sock.close()
            raise ConnectionFailed(
                f"permission denied on {self.path}: ask an admin to add you to the socket's group"
            ) from None
        except OSError as exc:
            sock.close()
            raise ConnectionFailed(f"cannot connect to {self.path}: {exc.strerror}") from None
        self._sock = sock
        self._file = sock.makefile("rb")

    def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` and return its result; raise RemoteError when refused."""
        if self._sock is None:
            self._connect()
        request_id = next(self._ids)
        frame = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            self._sock.sendall(json.dumps(frame).encode() + b"\n")  # type: ignore[union-attr]
            line = self._file.readline()
        except OSError as exc:
            self.close()
            raise ConnectionFailed(f"connection to {self.path} lost: {exc}") from None
        if not line:
            self.close()
            raise ConnectionFailed(f"the daemon closed the connection on {self.path}")
        reply = json.loads(line)
        if "error" in reply:
            raise RemoteError(reply["error"])
        return reply["result"]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
