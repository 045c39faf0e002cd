"""Shown while the daemon does not answer on its socket: where we looked, how to start it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Middle
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from billingd_tui.connection import Daemon
from billingd_tui.messages import Reconnected


def _label(label: str) -> tuple[str, str]:
    return f"{label:<15}", "dim"


class UnreachableScreen(Screen[bool]):
    """Says the daemon is not reachable; ``r`` tries again and closes the screen on success."""

    SUB_TITLE = "Daemon not reachable"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry", id="unreachable.retry"),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("daemon: retry", "Try to reach the daemon again", "retry"),
    )

    reason: reactive[str] = reactive("")
    attempts: reactive[int] = reactive(0)

    def __init__(self, *, daemon: Daemon, reason: str) -> None:
        super().__init__()
        self.daemon = daemon
        self.set_reactive(UnreachableScreen.reason, reason)
        self._probing = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Middle(), Center():
            yield Static(self._message(), id="unreachable")
        yield Footer()

    def _message(self) -> Text:
        text = Text.assemble(
            ("The billingd daemon is not reachable.", "bold"),
            "\n\n",
            _label("Socket"),
            str(self.daemon.socket_path),
            "\n",
            _label("Reason"),
            self.reason.replace(str(self.daemon.socket_path), "this path"),
            "\n\n",
            _label("Start it with"),
            ("billingd serve", "bold"),
            "\n",
            _label("or for a demo"),
            ("billingd demo", "bold"),
            "\n",
            _label("Other socket?"),
            ("billing-tui --socket PATH", "bold"),
            " or ",
            ("$BILLINGD_SOCKET", "bold"),
            "\n\n",
            "Press ",
            ("r", "bold reverse"),
            " to retry, ",
            ("q", "bold reverse"),
            " to quit.",
        )
        if self.attempts:
            retries = "1 retry" if self.attempts == 1 else f"{self.attempts} retries"
            text.append(f"\n\nStill not reachable after {retries}.", style="italic")
        return text

    def _refresh_message(self) -> None:
        if self.is_mounted:
            self.query_one("#unreachable", Static).update(self._message())

    def watch_reason(self) -> None:
        self._refresh_message()

    def watch_attempts(self) -> None:
        self._refresh_message()

    def still_unreachable(self, reason: str) -> None:
        """Another call failed (our retry, or a worker of a screen below)."""
        self.reason = reason
        if self._probing:
            self._probing = False
            self.attempts += 1

    def action_retry(self) -> None:
        self._probing = True
        self.probe()

    @work(thread=True, exclusive=True)
    def probe(self) -> None:
        """Ask for the daemon's status; a failure bubbles up as DaemonUnreachable."""
        status = self.daemon.request(self, "status")
        if status is not None:
            self.post_message(Reconnected(status))

    def on_reconnected(self, message: Reconnected) -> None:
        self.dismiss(True)
