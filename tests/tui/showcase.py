"""The main screens as an operator sees them, on fixed data: for the snapshot tests
(tests/tui/test_snapshots.py) and the README's screenshots (docs/screenshots/make.py).

A daemon on the test clock is seeded over the socket with a year of invoicing (April
2025 to March 2026) for a few clients of two enterprises (EUR and USD): payments, a
credit note, a void invoice, a seven-digit USD invoice and a billing run of the
contracts that began in March 2026. What would still
vary between two runs is masked in the replies the TUI reads (:func:`masked_replies`):
wall-clock times the daemon records (a run's start and end), and the Unix user it
names. The socket is reached by a relative path, so its folder never shows.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from billingd_tui.app import BillingApp
from billingd_tui.connection import Daemon
from billingd_tui.screens import DashboardScreen, InvoiceScreen, RunsScreen
from billingd_tui.screens.client import SECTIONS as CLIENT_SECTIONS
from billingd_tui.screens.client import ClientScreen
from billingd_tui.screens.invoices import InvoicesScreen
from billingd_tui.widgets import PagedTable, RunsTable
from tests.conftest import RunningDaemon
from tests.tui.pilot import screen_text, wait_for

CONFIG = "clock: test\ninvoicing: manual\n"
SOCKET = Path("billingd.sock")
"""The socket as the app is given it: relative to the daemon's folder (the cwd)."""
NOW = "2026-03-20T10:00:00Z"
WALL_CLOCK_KEYS = frozenset({"started_at", "finished_at", "heartbeat_at", "created_at", "at"})
MASKED_TIME = "2026-03-20T10:00:00+00:00"
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}

CLIENTS = (
    ("Alpine Logistics", "Alpine Logistics GmbH", "C-1001"),
    ("Baltic Dental", "Baltic Dental Praxis", "C-1002"),
    ("Cobalt Studios", "Cobalt Studios KG", "C-1003"),
    ("Delta Legal", "Delta Legal Partners mbB", "C-1004"),
    ("Ember Foods", "Ember Foods AG", "C-1005"),
    ("Fjord Clinic", "Fjord Clinic", "C-1006"),
)
MONTHS = [f"{2025 + (3 + n) // 12}-{(3 + n) % 12 + 1:02d}" for n in range(12)]
"""April 2025 to March 2026."""


def seed(daemon: RunningDaemon) -> dict[str, Any]:
    """The fixed data; returns the invoice the invoice screen shows."""
    daemon.call("clock.set", to="2025-04-01T08:00:00Z")
    eur = daemon.call(
        "enterprise.add", name="Northwind Telecom GmbH", currency="EUR", tax_rate="19",
        pattern="%num%/%year%", start=100001, terms=14,
    )  # fmt: skip
    usd = daemon.call("enterprise.add", name="Northwind Inc.", currency="USD", start=500)
    clients = [
        daemon.call(
            "client.add",
            name=name,
            company=company,
            contract_number=number,
            enterprise=eur["id"],
            email=f"billing@{name.split()[0].lower()}.example",
        )
        for name, company, number in CLIENTS
    ]
    harbor = daemon.call("client.add", name="Harbor Media", enterprise=usd["id"])
    for n, client in enumerate(clients[:4]):
        daemon.call(
            "contract.add", client=client["id"], description="Hosted PBX",
            price=("49.00", "99.00", "149.00")[n % 3], quantity=str(n + 1), cycle="month",
            start="2026-03-01",
        )  # fmt: skip
    unpaid: list[dict[str, Any]] = []
    for m, month in enumerate(MONTHS):
        daemon.call("clock.set", to=f"{month}-03T09:00:00Z")
        for n, client in enumerate(clients[4:], start=4):
            amount = Decimal(180 + 45 * ((m * 7 + n * 3) % 11)).quantize(Decimal("0.01"))
            [invoice] = daemon.call(
                "invoice.amount", client=client["id"], date=f"{month}-03", amount=str(amount),
                description="Call minutes and support hours",
            )  # fmt: skip
            if (m + n) % 4:  # most are paid, some stay open and age
                daemon.call(
                    "payment.record", client=client["id"], amount=str(amount),
                    invoice=invoice["id"], reference=f"SEPA {month}-{n}",
                )  # fmt: skip
            else:
                unpaid.append(invoice)
        if m % 3 == 2:
            daemon.call("invoice.amount", client=harbor["id"], date=f"{month}-03", amount="2400.00")
    daemon.call("credit_note.issue", invoice=unpaid[0]["id"], amount="50.00", reason="Outage")
    daemon.call("invoice.void", invoice=unpaid[-1]["id"], reason="Issued twice")
    daemon.call("clock.set", to="2026-03-19T09:00:00Z")
    [big] = daemon.call(
        "invoice.amount", client=harbor["id"], date="2026-03-19", amount="1487500.00",
        description="Telephony for all 240 sites, 2026, paid in advance",
    )  # fmt: skip
    daemon.call("clock.set", to=NOW)
    run = daemon.call("run.start", until="2026-03-20")
    _until(lambda: daemon.call("run.show", id=run["id"])["status"] == "done", "the run")
    _until(lambda: daemon.call("invoice.show", invoice=big["id"])["document"] == "ready", "PDF")
    return big


def _until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the daemon did not finish {what}")
        time.sleep(0.1)


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: MASKED_TIME if key in WALL_CLOCK_KEYS and item else
            "operator" if key == "actor" and item else _masked(item)
            for key, item in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


@contextlib.contextmanager
def masked_replies() -> Iterator[None]:
    """While inside, the TUI reads replies with wall-clock times and the user masked."""
    call = Daemon.call

    def masked_call(self: Daemon, method: str, **params: Any) -> Any:
        return _masked(call(self, method, **params))

    Daemon.call = masked_call  # type: ignore[method-assign]
    try:
        yield
    finally:
        Daemon.call = call  # type: ignore[method-assign]


# -- the screens ---------------------------------------------------------------------
# Each is a pilot script that leaves the app showing one screen with its data loaded.

Script = Callable[[Pilot], Awaitable[None]]


def screens(invoice: dict[str, Any]) -> dict[str, Script]:
    """The main screens by name; ``invoice`` is the one the invoice screen shows."""
    return {
        "clients": clients_screen,
        "invoice": invoice_screen(invoice),
        "dashboard": dashboard_screen,
        "runs": runs_screen,
        "client": client_screen(invoice),
        "invoices": invoices_screen,
    }


async def clients_screen(pilot: Pilot) -> None:
    clients = pilot.app.screen.query_one("#clients", PagedTable)
    invoices = pilot.app.screen.query_one("#invoices", PagedTable)
    await wait_for(pilot, lambda: clients.row_count == len(CLIENTS) + 1)
    await wait_for(pilot, lambda: invoices.row_count > 0 and not invoices.fetching)
    await wait_for(pilot, lambda: f"{len(CLIENTS) + 1} clients" in screen_text(pilot))


def invoice_screen(invoice: dict[str, Any]) -> Script:
    async def show(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, BillingApp)
        await clients_screen(pilot)
        app.push_screen(
            InvoiceScreen(daemon=app.daemon, invoice=invoice["id"], client_name="Harbor Media")
        )
        await wait_for(pilot, lambda: getattr(app.screen, "invoice", None) is not None)

    return show


async def dashboard_screen(pilot: Pilot) -> None:
    await pilot.press("d")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
    await wait_for(pilot, lambda: "Revenue EUR" in screen_text(pilot))
    runs = app.screen.query_one("#runs", RunsTable)
    await wait_for(pilot, lambda: runs.row_count == 1 and "Dunning" in screen_text(pilot))
    await wait_for(pilot, lambda: "overdue invoices" in screen_text(pilot))


async def runs_screen(pilot: Pilot) -> None:
    await pilot.press("u")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
    runs = app.screen.query_one("#runs", RunsTable)
    await wait_for(pilot, lambda: runs.row_count == 1)
    await wait_for(pilot, lambda: "Errors · none" in screen_text(pilot))


def client_screen(invoice: dict[str, Any]) -> Script:
    """The workspace of the client the invoice screen's invoice bills, every section loaded."""

    async def show(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, BillingApp)
        await clients_screen(pilot)
        app.push_screen(ClientScreen(daemon=app.daemon, client_id=invoice["client_id"]))
        await wait_for(pilot, lambda: isinstance(app.screen, ClientScreen))
        screen = app.screen
        assert isinstance(screen, ClientScreen)
        await wait_for(pilot, lambda: set(CLIENT_SECTIONS) <= set(screen.data), timeout=30)

    return show


async def invoices_screen(pilot: Pilot) -> None:
    await pilot.press("i")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, InvoicesScreen))
    invoices = app.screen.query_one("#invoices", PagedTable)
    await wait_for(pilot, lambda: invoices.row_count > 0 and not invoices.fetching)
    await wait_for(pilot, lambda: app.focused is invoices)
    await pilot.pause(0.2)  # the money columns are fitted after the rows are in
