"""billing-tui: the App and its console-script entry point."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from billingd_tui.commands import BillingCommands
from billingd_tui.connection import Daemon
from billingd_tui.format import inert
from billingd_tui.messages import DaemonRefused, DaemonUnreachable
from billingd_tui.screens import ClientsScreen, RunsScreen, UnreachableScreen
from billingd_tui.screens.workspace import WorkspaceScreen
from billingd_tui.sections import BY_NAME, SECTIONS


class BillingApp(App[None]):
    """The operator's workspace; every byte of data comes from the daemon's socket."""

    TITLE = "billingd"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {BillingCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        *(
            Binding(s.key, f"open({s.name!r})", s.name.title(), id=f"app.{s.name}", show=s.footer)
            for s in SECTIONS
        ),
    ]

    def __init__(self, *, socket_path: Path) -> None:
        super().__init__()
        self.daemon = Daemon(Path(socket_path))
        self._reconnected_at = 0.0

    def get_default_screen(self) -> Screen:
        return ClientsScreen(daemon=self.daemon)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open":  # from the main screens, not over a dialog or the unreachable one
            section = BY_NAME.get(str(parameters[0]))
            return isinstance(self.screen, WorkspaceScreen) and not (
                section is None or isinstance(self.screen, section.screen)
            )
        return True

    def action_open(self, section: str) -> Screen | None:
        """Go to ``section``: back to its screen when it is open below, else open it on top.

        Only from a main screen (None otherwise): not over a dialog or the unreachable one.
        """
        if not isinstance(self.screen, WorkspaceScreen):
            return None
        kind = BY_NAME[section].screen
        for depth, screen in enumerate(reversed(self.screen_stack)):
            if isinstance(screen, kind):
                for _ in range(depth):
                    self.pop_screen()
                return screen
        screen = kind(daemon=self.daemon)
        self.push_screen(screen)
        return screen

    def action_start_run(self) -> None:
        """The Runs screen, asking whether to start a run now."""
        runs = self.action_open("runs")
        if isinstance(runs, RunsScreen):
            runs.action_start_run()

    def on_daemon_unreachable(self, message: DaemonUnreachable) -> None:
        if message.started < self._reconnected_at:
            return  # a call from before the daemon came back; the refresh repeats it
        for screen in self.screen_stack:
            if isinstance(screen, UnreachableScreen):
                screen.still_unreachable(message.reason)
                return
        unreachable = UnreachableScreen(daemon=self.daemon, reason=message.reason)
        self.push_screen(unreachable, self._reconnected)

    def _reconnected(self, _: bool | None) -> None:
        self._reconnected_at = time.monotonic()
        for screen in self.screen_stack:
            if isinstance(screen, WorkspaceScreen):
                screen.action_refresh()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification of every screen: its text and title may name the
        daemon's data, so they are shown inert and never read as markup."""
        super().notify(
            inert(message), title=inert(title), severity=severity, timeout=timeout, markup=False
        )

    def on_daemon_refused(self, message: DaemonRefused) -> None:
        title = f"{message.method} refused"
        self.notify(message.message, title=title, severity="error")


def main(argv: list[str] | None = None) -> int:
    """``billing-tui [--socket PATH]``."""
    parser = argparse.ArgumentParser(
        prog="billing-tui", description="The terminal UI of billingd (a client of its socket)."
    )
    parser.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="the daemon's control socket (default: $BILLINGD_SOCKET, "
        "else the socket of the daemon's config)",
    )
    args = parser.parse_args(argv)
    socket_path = args.socket or _default_socket(parser)
    BillingApp(socket_path=socket_path).run()
    return 0


def _default_socket(parser: argparse.ArgumentParser) -> Path:
    if os.environ.get("BILLINGD_SOCKET"):
        return Path(os.environ["BILLINGD_SOCKET"])
    from billingd.control.client import default_socket_path

    try:
        return default_socket_path()
    except Exception as exc:  # a config the daemon would refuse too; say so, don't crash
        parser.error(f"cannot tell where the daemon's socket is ({exc}); pass --socket PATH")


if __name__ == "__main__":
    sys.exit(main())
