"""Money columns at 80x24: sized to the widest amount, text columns shrink first."""

from __future__ import annotations

from rich.text import Text

from billingd_tui.app import BillingApp
from billingd_tui.format import money_width
from billingd_tui.screens import ClientsScreen, InvoiceScreen
from billingd_tui.widgets import PagedTable
from tests.conftest import RunningDaemon
from tests.tui.pilot import SIZE, screen_text, wait_for


def test_money_width_fits_the_widest_amount_its_currency_and_its_label() -> None:
    assert money_width(["9.50", "1487500.00"]) == 10
    assert money_width(["9.50", Text("1487500.00")], "EUR") == 14
    assert money_width([], label="Balance") == 7
    assert money_width(["1.00"], label="Balance") == 7


async def test_a_seven_digit_amount_is_shown_whole_at_80x24(daemon: RunningDaemon) -> None:
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    jane = daemon.call(
        "client.add", name="Jane Client-Somebody With A Very Long Name", enterprise=acme["id"],
        company="A Company Whose Name Does Not Fit Either GmbH",
    )  # fmt: skip
    [invoice] = daemon.call(
        "invoice.amount", client=jane["id"], date="2026-01-15", amount="1487500.00",
        description="Prepayment for the whole year of hosted telephony, every site",
    )  # fmt: skip
    assert invoice["total"] == "1487500.00"

    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        invoices = screen.query_one("#invoices", PagedTable)
        await wait_for(pilot, lambda: invoices.row_count == 1)
        await pilot.pause(0.1)
        rows = [line for line in screen_text(pilot).splitlines() if "1487500" in line]
        assert len(rows) == 1, rows
        assert "1487500.00 EUR" in rows[0] and rows[0].count("1487500.00") == 2  # and balance
        assert "2026-01-15" in rows[0]

        invoices.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InvoiceScreen))
        await wait_for(pilot, lambda: app.screen.invoice is not None)
        await pilot.pause(0.1)
        text = screen_text(pilot)
        [line] = [line for line in text.splitlines() if "Prepayment" in line]
        assert line.split()[-5:] == ["1", "1250000.00", "1250000.00", "19", "237500.00"]
        assert "every site" not in line  # the description shrank: it wraps instead
