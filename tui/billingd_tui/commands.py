"""The command palette's billingd commands, named "area: verb" after the screen they act on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from billingd_tui.screens.workspace import WorkspaceScreen
from billingd_tui.sections import SECTIONS

Command = tuple[str, str, Callable[[], Any]]


class BillingCommands(Provider):
    """The palette entries of the screen it was opened on (its ``PALETTE``), the other
    sections, billing now, and "app: quit"."""

    def commands(self) -> Iterator[Command]:
        screen = self.screen
        for name, help_text, action in getattr(screen, "PALETTE", ()):
            if screen.check_action(action, ()) is not False:
                yield name, help_text, partial(screen.run_action, action)
        if isinstance(screen, WorkspaceScreen):
            yield from self.sections()
        yield "app: quit", "Quit billing-tui (the daemon keeps running)", self.app.action_quit

    def sections(self) -> Iterator[Command]:
        """Going to the other main screens, and billing now."""
        run = self.app.run_action
        for section in SECTIONS:
            if not isinstance(self.screen, section.screen):
                action = f"open({section.name!r})"
                yield f"{section.name}: open", section.help, partial(run, action)
        start = partial(run, "start_run")
        yield "run: start now", "Bill every client up to today (asks first)", start

    async def discover(self) -> Hits:
        for name, help_text, callback in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)
