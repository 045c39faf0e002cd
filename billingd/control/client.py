"""A blocking control-socket client, shared by billingctl and the TUI."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

EVENT_METHOD = "event"
CONNECT_PATIENCE = 10.0
"""Seconds a connect waits at most for room in the daemon's accept queue."""
DROPPED_EVENT = "events.dropped"


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
    """Calls methods over one connection; safe to reuse, not to share between threads.

    After :meth:`subscribe`, the daemon also sends ``event`` notifications on this
    connection; :meth:`call` keeps any that arrive before its reply, and
    :meth:`events` / :meth:`next_event` hand them out in order.
    """

    def __init__(self, path: Path | str, timeout: float | None = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._timeout_now: float | None = timeout
        self._events: deque[dict[str, Any]] = deque()

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            self._connect_waiting(sock)
        except FileNotFoundError:
            sock.close()
            raise ConnectionFailed(
                f"no daemon socket at {self.path}: is billingd running? "
                "(start it with 'billingd serve', or pass --socket)"
            ) from None
        except ConnectionRefusedError:
            sock.close()
            raise ConnectionFailed(
                f"billingd is not running: {self.path} is left over from a daemon that "
                "stopped (start it with 'systemctl start billingd', or 'billingd serve')"
            ) from None
        except BlockingIOError:
            sock.close()
            raise ConnectionFailed(
                f"{self.path}: the daemon accepts no more connections for now "
                "(its queue stayed full); try again"
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
        self._timeout_now = self.timeout
        self._buffer.clear()

    def _connect_waiting(self, sock: socket.socket) -> None:
        """Connect; while the daemon's queue of connections waiting to be accepted is
        full (EAGAIN: a burst, or someone flooding the socket), try again for up to
        the timeout (10 s at most)."""
        patience = min(self.timeout or CONNECT_PATIENCE, CONNECT_PATIENCE)
        deadline, pause = time.monotonic() + patience, 0.005
        while True:
            try:
                sock.connect(str(self.path))
                return
            except BlockingIOError:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

    def _set_timeout(self, timeout: float | None) -> None:
        if timeout != self._timeout_now:
            assert self._sock is not None
            self._sock.settimeout(timeout)
            self._timeout_now = timeout

    def _read_frame(self, timeout: float | None, *, per_read: bool = False) -> dict | None:
        """The next frame from the daemon; None when ``timeout`` passes first.

        ``timeout`` bounds the whole frame, or with ``per_read`` each wait for data.
        """
        assert self._sock is not None
        buffer = self._buffer
        end = buffer.find(b"\n")
        deadline = None if timeout is None or per_read else time.monotonic() + timeout
        while end < 0:
            if deadline is None:
                self._set_timeout(timeout)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._set_timeout(left)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                return None
            except OSError as exc:
                self.close()
                raise ConnectionFailed(f"connection to {self.path} lost: {exc}") from None
            if not chunk:
                self.close()
                raise ConnectionFailed(f"the daemon closed the connection on {self.path}")
            searched = len(buffer)
            buffer += chunk
            end = buffer.find(b"\n", searched)
        line = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        return json.loads(line)

    def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` and return its result; raise RemoteError when refused."""
        return self.request(method, params)

    def request(
        self,
        method: str,
        params: dict[str, Any],
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> Any:
        """:meth:`call` with the parameters as a dict; events that arrive before the
        reply go to ``on_event`` as they come (e.g. progress) instead of being kept."""
        if self._sock is None:
            self._connect()
        assert self._sock is not None
        request_id = next(self._ids)
        frame = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            self._set_timeout(self.timeout)
            self._sock.sendall(json.dumps(frame).encode() + b"\n")
        except OSError as exc:
            # the daemon may have refused the connection (no role, too many) or closed
            # it (idle) with an error frame before closing: that says why
            with contextlib.suppress(ConnectionFailed, OSError, ValueError):
                last = self._read_frame(0.5)
                if last is not None and "error" in last:
                    self.close()
                    raise RemoteError(last["error"]) from None
            self.close()
            raise ConnectionFailed(f"connection to {self.path} lost: {exc}") from None
        while True:
            reply = self._read_frame(self.timeout, per_read=True)
            if reply is None:
                self.close()
                raise ConnectionFailed(f"no reply from the daemon on {self.path} in time")
            if "id" not in reply and reply.get("method") == EVENT_METHOD:
                event = reply.get("params") or {}
                if on_event is None:
                    self._events.append(event)
                else:
                    on_event(event)
                continue
            if "error" in reply:
                raise RemoteError(reply["error"])
            return reply["result"]

    def subscribe(self, events: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Subscribe to events (name prefixes such as ``"invoice."``; None = all).

        Returns an iterator over the events as they arrive: dicts with ``name``,
        ``payload``, ``at`` and ``seq``. It blocks between events and ends after an
        ``events.dropped`` event (this client fell too far behind; subscribe again).
        """
        self.call("subscribe", events=list(events or ()))
        return self.events()

    def unsubscribe(self) -> None:
        """Stop the events; any still buffered on this side are discarded."""
        self.call("unsubscribe")
        self._events.clear()

    def next_event(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event, waiting up to ``timeout`` seconds (None: forever); None on timeout."""
        if self._events:
            return self._events.popleft()
        if self._sock is None:
            raise ConnectionFailed("not subscribed: call subscribe() first")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            frame = self._read_frame(left)
            if frame is None:
                return None
            if "id" not in frame and frame.get("method") == EVENT_METHOD:
                return frame.get("params") or {}

    def events(self) -> Iterator[dict[str, Any]]:
        """Events as they arrive, until the subscription is dropped (or the connection ends)."""
        while True:
            event = self.next_event()
            if event is None:  # pragma: no cover  (no timeout: never None)
                continue
            yield event
            if event.get("name") == DROPPED_EVENT:
                return

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._buffer.clear()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
