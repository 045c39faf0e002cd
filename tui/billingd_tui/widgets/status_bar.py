"""One line about the daemon the TUI is talking to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import Static

from billingd_tui.format import inert


class StatusBar(Static):
    """The daemon's version, database, clock and client count, then the socket path."""

    def __init__(
        self, *, socket_path: Path, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.socket_path = socket_path

    def on_mount(self) -> None:
        self.update(Text(inert(f"connecting to {self.socket_path}…")))

    def show_status(self, status: dict[str, Any]) -> None:
        """Show the result of the daemon's ``status`` method."""
        now = str(status.get("now") or "")[:16].replace("T", " ")
        parts = [
            f"billingd {status.get('version', '?')}",
            f"{status.get('database', '?')}",
            f"{status.get('clients', '?')} clients",
            f"clock {now}" if now else "",
            f"as {status['actor']}" if status.get("actor") else "",
            str(self.socket_path),
        ]
        self.update(
            Text(
                inert(" · ".join(part for part in parts if part)),
                no_wrap=True,
                overflow="ellipsis",
            )
        )
