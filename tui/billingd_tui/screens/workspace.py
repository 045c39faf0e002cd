"""What every main screen of the workspace shares: the daemon, a refresh, palette entries."""

from __future__ import annotations

from typing import ClassVar

from textual.screen import Screen

from billingd_tui.connection import Daemon


class WorkspaceScreen(Screen[None]):
    """A main screen: it shows the daemon's data, reloads it on ``r`` and after a reconnect.

    ``PALETTE`` lists its command-palette entries as ``(name, help, action)``, named
    "area: verb" ("invoice: void"); the action runs on the screen, so it is checked by
    :meth:`check_action` like the key binding for it.
    """

    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    def __init__(self, *, daemon: Daemon) -> None:
        super().__init__()
        self.daemon = daemon

    def action_refresh(self) -> None:
        """Reload what the screen shows from the daemon."""
        raise NotImplementedError

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.dismiss()
