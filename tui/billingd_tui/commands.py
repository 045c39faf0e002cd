"""The command palette's billingd commands, named "area: verb" after the screen they act on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from billingd_tui.screens import (
    ClientsScreen,
    DashboardScreen,
    InvoiceScreen,
    RunsScreen,
    UnreachableScreen,
)

Command = tuple[str, str, Callable[[], Any]]
SECTIONS = (
    ("dashboard", DashboardScreen, "Daemon status, open totals and runs, live"),
    ("clients", ClientsScreen, "Search clients and see their invoices"),
    ("runs", RunsScreen, "Recent billing runs, their counts and errors"),
)


class BillingCommands(Provider):
    """Commands for the screen the palette was opened on, plus "app: quit"."""

    def commands(self) -> Iterator[Command]:
        screen = self.screen
        if isinstance(screen, ClientsScreen):
            yield (
                "clients: refresh",
                "Reload clients and invoices from the daemon",
                (screen.action_refresh),
            )
            yield (
                "client: edit billing settings",
                "The highlighted client's settings, checked by the daemon",
                screen.action_edit_client,
            )
            yield (
                "clients: search",
                "Search clients by name, company or email",
                (screen.action_focus_search),
            )
        elif isinstance(screen, InvoiceScreen):
            yield "invoice: refresh", "Reload this invoice", screen.action_refresh
            yield "invoice: send", "Email it to its recipients (asks first)", screen.action_send
            yield "invoice: void", "Void it, keeping its number (asks first)", screen.action_void
            yield (
                "payment: record",
                "Record a payment for this invoice",
                screen.action_record_payment,
            )
            yield "credit note: issue", "Credit part of this invoice", screen.action_credit_note
            yield "invoice: back", "Back to the clients", screen.action_back
        elif isinstance(screen, DashboardScreen):
            yield "dashboard: refresh", "Reload the dashboard", screen.action_refresh
        elif isinstance(screen, RunsScreen):
            yield "runs: refresh", "Reload the runs", screen.action_refresh
        elif isinstance(screen, UnreachableScreen):
            yield "daemon: retry", "Try to reach the daemon again", screen.action_retry
        if isinstance(screen, ClientsScreen | InvoiceScreen | DashboardScreen | RunsScreen):
            yield from self.sections()
        yield "app: quit", "Quit billing-tui (the daemon keeps running)", self.app.action_quit

    def sections(self) -> Iterator[Command]:
        """Going to the other main screens, and billing now."""
        run = self.app.run_action
        for name, kind, help_text in SECTIONS:
            if not isinstance(self.screen, kind):
                yield f"{name}: open", help_text, partial(run, f"open({name!r})")
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
