"""Helpers for driving billing-tui through Textual's pilot."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console
from textual.pilot import Pilot

from billingd_tui.widgets import PagedTable

SIZE = (80, 24)
"""The terminal every pilot test starts in unless it says otherwise."""


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10) -> None:
    """Let the app run until ``condition()`` holds (workers answer asynchronously)."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    assert condition(), f"timed out waiting for the UI; the screen shows:\n{screen_text(pilot)}"


def screen_text(pilot: Pilot) -> str:
    """The current screen as plain text, as the terminal would show it."""
    app = pilot.app
    console = Console(
        width=app.size.width,
        height=app.size.height,
        file=io.StringIO(),
        record=True,
        force_terminal=True,
        legacy_windows=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def table_text(table: PagedTable) -> str:
    return "\n".join(" ".join(str(cell) for cell in table.get_row(key)) for key in table.rows)
