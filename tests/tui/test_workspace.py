"""The client billing workspace (seed 003) and the invoice actions, driven through the
pilot at 80×24 against a real daemon."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable

from billingd_tui.app import BillingApp
from billingd_tui.screens import ClientScreen, ClientsScreen, InvoiceScreen
from tests.conftest import RunningDaemon
from tests.tui.pilot import SIZE, screen_text, wait_for

pytestmark = pytest.mark.slow


def setup_jane(daemon: RunningDaemon) -> dict[str, Any]:
    """A client with a service, a pending charge, two invoices (one partly paid and
    credited) and a payment."""
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    jane = daemon.call("client.add", name="Jane", enterprise=acme["id"], email="j@x.test")
    contract = daemon.call(
        "contract.add", client=jane["id"], description="Hosted PBX", price="100.00",
        cycle="month", start="2026-11-01",
    )  # fmt: skip
    charge = daemon.call("charge.add", client=jane["id"], description="Setup", amount="25.00")
    first, second = daemon.call(
        "invoice.amount", client=jane["id"], date="2026-01-15", amount="1487.50", count=2
    )
    payment = daemon.call(
        "payment.record", client=jane["id"], amount="500.00", invoice=first["id"],
        reference="SEPA-1",
    )  # fmt: skip
    note = daemon.call("credit_note.issue", invoice=first["id"], amount="10.00", reason="goodwill")
    return {
        "jane": jane, "contract": contract, "charge": charge, "first": first,
        "second": second, "payment": payment, "note": note,
    }  # fmt: skip


def table(app: BillingApp, table_id: str) -> DataTable:
    return app.screen.query_one(f"#{table_id}", DataTable)


def rows(app: BillingApp, table_id: str) -> str:
    grid = table(app, table_id)
    return "\n".join(" ".join(str(c) for c in grid.get_row(key)) for key in grid.rows)


async def open_client(pilot: Any, app: BillingApp) -> ClientScreen:
    """Enter on the (only) client row opens its workspace; wait for every section."""
    clients = app.screen
    assert isinstance(clients, ClientsScreen)
    await wait_for(pilot, lambda: clients.client_id is not None)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ClientScreen))
    screen = app.screen
    assert isinstance(screen, ClientScreen)
    await wait_for(pilot, lambda: len(screen.data) == 7)
    return screen


async def test_every_section_of_the_workspace_at_80x24(daemon: RunningDaemon) -> None:
    seed = setup_jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_client(pilot, app)
        text = screen_text(pilot)
        print(text)
        # the cards: invoiced 2 × 1487.50, paid 500, due 2475.00, ledger less the credit
        for amount in ("2975.00 EUR", "500.00 EUR", "2475.00 EUR", "2465.00 EUR"):
            assert amount in text, amount
        assert "Jane" in text

        # upcoming: the next invoice a run makes, its lines; the service and its price
        assert "Next invoice" in text and "Hosted PBX" in text
        assert "119.00 EUR" in text  # the first month, tax included
        assert "100.00" in rows(app, "services")

        await pilot.press("2")
        await wait_for(pilot, lambda: "Setup" in screen_text(pilot))
        assert "pending" in rows(app, "charges") and "25.00" in rows(app, "charges")

        await pilot.press("3")
        await wait_for(pilot, lambda: seed["second"]["number"] in screen_text(pilot))
        text = screen_text(pilot)
        print(text)
        assert "1487.50" in text and "977.50" in text  # total and balance, not cut

        await pilot.press("4")
        await wait_for(pilot, lambda: "SEPA-1" in screen_text(pilot))
        assert f"{seed['first']['number']} 500.00" in rows(app, "payments")

        await pilot.press("5")
        await wait_for(pilot, lambda: seed["note"]["number"] in screen_text(pilot))
        assert "goodwill" in screen_text(pilot) and "10.00" in rows(app, "credit_notes")

        await pilot.press("6")
        await wait_for(pilot, lambda: "payment.recorded" in screen_text(pilot))
        audit = rows(app, "audit")
        print(screen_text(pilot))
        assert "reference SEPA-1" in audit and "amount 500.00" in audit
        assert "base 100.00" not in audit  # no price override yet

        # Enter on the invoice row opens it; Escape comes back
        await pilot.press("3")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InvoiceScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
