"""The TUI's only way to the daemon: blocking calls on the control socket."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message_pump import MessagePump
from textual.worker import get_current_worker

from billingd.control.client import DROPPED_EVENT, ConnectionFailed, ControlClient, RemoteError
from billingd_tui.messages import DaemonRefused, DaemonUnreachable, Following, event_message

FOLLOW_POLL = 0.2
"""Seconds a following worker waits for an event before it looks whether it was cancelled:
how long quitting can wait for it at most."""


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

    def follow(self, sender: MessagePump, prefixes: Sequence[str]) -> None:
        """Subscribe to events named ``prefixes…`` and post them to ``sender`` as messages.

        Run it in a thread worker: it blocks until the worker is cancelled (when
        ``sender`` is unmounted or the app quits), waking every :data:`FOLLOW_POLL`
        seconds to notice. ``sender`` gets :class:`Following` once subscribed, and
        again after the daemon dropped a subscriber that fell behind (re-read then).
        A lost connection is posted as :class:`DaemonUnreachable`.
        """
        worker = get_current_worker()
        started = time.monotonic()
        try:
            with ControlClient(self.socket_path, timeout=self.timeout) as client:
                client.subscribe(prefixes)
                sender.post_message(Following())
                while not worker.is_cancelled:
                    started = time.monotonic()
                    event = client.next_event(timeout=FOLLOW_POLL)
                    if event is None or worker.is_cancelled:
                        continue
                    if event.get("name") == DROPPED_EVENT:
                        client.subscribe(prefixes)
                        sender.post_message(Following())
                        continue
                    message = event_message(event)
                    if message is not None:
                        sender.post_message(message)
        except ConnectionFailed as exc:
            if not worker.is_cancelled:
                sender.post_message(DaemonUnreachable(str(exc), started))
        except RemoteError as exc:
            sender.post_message(DaemonRefused("subscribe", exc.code, exc.message))
        except (ValueError, KeyError) as exc:  # a frame that is not JSON-RPC
            sender.post_message(DaemonRefused("subscribe", 0, f"unreadable event: {exc}"))
