"""The TUI's only way to the daemon: blocking calls on the control socket."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message_pump import MessagePump

from billingd.control.client import ConnectionFailed, ControlClient, RemoteError
from billingd_tui.messages import DaemonRefused, DaemonUnreachable


@dataclass(frozen=True)
class Daemon:
    """Where the daemon listens. Calls block, so make them from thread workers only."""

    socket_path: Path
    timeout: float = 15.0

    def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` on a connection of its own, so that any thread may call."""
        with ControlClient(self.socket_path, timeout=self.timeout) as client:
            return client.call(method, **params)

    def request(self, sender: MessagePump, method: str, **params: Any) -> Any | None:
        """Like :meth:`call`, but a failure is posted to ``sender`` and gives None."""
        started = time.monotonic()
        try:
            return self.call(method, **params)
        except ConnectionFailed as exc:
            sender.post_message(DaemonUnreachable(str(exc), started))
        except RemoteError as exc:
            sender.post_message(DaemonRefused(method, exc.code, exc.message))
        except (ValueError, KeyError) as exc:  # a reply that is not JSON-RPC
            sender.post_message(DaemonRefused(method, 0, f"unreadable reply: {exc}"))
        return None
