"""The client billing workspace (seed 003) and the invoice actions, driven through the
pilot at 80×24 against a real daemon."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, TextArea

from billingd_tui.app import BillingApp
from billingd_tui.client_view import Column, audit_details, column_widths
from billingd_tui.screens import ClientScreen, ClientsScreen, ConfirmScreen, InvoiceScreen
from billingd_tui.screens.billgroups import BillGroupsScreen
from billingd_tui.screens.document import DocumentScreen
from billingd_tui.screens.form import FormScreen
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
        assert "1487.50" in text and "977.50" in text  # total and balance, not cut

        await pilot.press("4")
        await wait_for(pilot, lambda: "SEPA-1" in screen_text(pilot))
        assert f"{seed['first']['number']}: 500.00" in rows(app, "payments")

        await pilot.press("5")
        await wait_for(pilot, lambda: seed["note"]["number"] in screen_text(pilot))
        assert "goodwill" in screen_text(pilot) and "10.00" in rows(app, "credit_notes")

        await pilot.press("6")
        await wait_for(pilot, lambda: "payment.recorded" in screen_text(pilot))
        audit = rows(app, "audit")
        assert "reference SEPA-1" in audit and "amount 500.00" in audit
        assert "base 100.00" not in audit  # no price override yet

        # its billing settings and bill groups (the other helpers' screens)
        await pilot.press("s")
        await wait_for(pilot, lambda: "Billing settings · Jane" in screen_text(pilot))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, BillGroupsScreen))
        await wait_for(pilot, lambda: "Default" in screen_text(pilot))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)

        # Enter on the invoice row opens it; Escape comes back
        await pilot.press("3")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InvoiceScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


def error_under(app: BillingApp, field: str) -> str:
    return str(app.screen.query_one(f"#err-{field}").render())


async def fill_form(pilot: Any, app: BillingApp, **values: Any) -> None:
    """Enter ``values`` into the open form and save it (ctrl+s)."""
    form = app.screen
    assert isinstance(form, FormScreen)
    for param, value in values.items():
        widget = form.query_one(f"#in-{param}")
        if isinstance(widget, TextArea):
            widget.text = value
        else:
            widget.value = value  # type: ignore[attr-defined]
    await pilot.press("ctrl+s")


async def test_charges_add_with_the_refusal_under_its_field_and_cancel_asks(
    daemon: RunningDaemon,
) -> None:
    seed = setup_jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_client(pilot, app)
        await pilot.press("2", "a")
        await wait_for(pilot, lambda: "Add charge · Jane" in screen_text(pilot))
        await fill_form(pilot, app, description="Router", amount="12.3x")
        await wait_for(pilot, lambda: "decimal" in error_under(app, "amount"))
        assert isinstance(app.screen, FormScreen)  # the form stays, nothing written
        await fill_form(pilot, app, amount="0")
        await wait_for(pilot, lambda: "at least 0.01" in error_under(app, "amount"))
        await fill_form(
            pilot, app, amount="49.90", contract=str(seed["contract"]["id"]),
            date="2027-02-01", notes="installed on site",
        )  # fmt: skip
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: "Router" in rows(app, "charges"))
        charge = rows(app, "charges").splitlines()[-1]
        assert "Hosted PBX" in charge and "2027-02-01" in charge and "49.90" in charge
        [router] = [c for c in daemon.call("charge.list", client=seed["jane"]["id"])
                    if c["description"] == "Router"]  # fmt: skip
        assert router["notes"] == "installed on site"

        # cancel asks first with Cancel focused: Enter keeps the charge
        table(app, "charges").move_cursor(row=0)  # Setup
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Setup" in screen_text(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
        assert daemon.call("charge.list", client=seed["jane"]["id"], status="pending")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "cancelled" in rows(app, "charges"))
        assert daemon.call("charge.show" if False else "charge.list", client=seed["jane"]["id"],
                           status="cancelled")[0]["description"] == "Setup"  # fmt: skip
        # a cancelled charge cannot be cancelled again: the reason, no question
        table(app, "charges").move_cursor(row=0)
        await pilot.press("x")
        await wait_for(pilot, lambda: "pending charge can be" in screen_text(pilot))
        assert app.screen is screen


async def test_invoices_for_amount_and_period_and_a_payment_with_its_allocation(
    daemon: RunningDaemon,
) -> None:
    seed = setup_jane(daemon)
    jane = seed["jane"]["id"]
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_client(pilot, app)
        await pilot.press("3", "m")
        await wait_for(pilot, lambda: "Create invoice for amount" in screen_text(pilot))
        await fill_form(pilot, app, date="2026-02-01", amount="59.50", count="2")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: table(app, "invoices").row_count == 4)
        assert rows(app, "invoices").count("59.50") == 4  # two invoices, total and balance

        # a count that is not a number is refused under its field
        await pilot.press("m")
        await wait_for(pilot, lambda: "Create invoice for amount" in screen_text(pilot))
        await fill_form(pilot, app, amount="10.00", count="two")
        await wait_for(pilot, lambda: "count" in error_under(app, "count"))
        await pilot.press("escape")

        # for a period: the service's month, with its document
        await pilot.press("i")
        await wait_for(pilot, lambda: "Create invoice for period" in screen_text(pilot))
        await fill_form(
            pilot, app, **{"from": "2026-11-01", "to": "2026-11-30", "date": "2026-11-30"}
        )
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: table(app, "invoices").row_count == 5)
        [period] = daemon.call("invoice.list", client=jane, limit=1)
        assert period["period_start"] == "2026-11-01" and period["total"] == "148.75"
        # both flags off is refused (R-INV-1), shown in the form
        await pilot.press("i")
        await wait_for(pilot, lambda: "Create invoice for period" in screen_text(pilot))
        await fill_form(pilot, app, **{"from": "2026-12-01", "to": "2026-12-31",
                                       "document": False, "stats": False})  # fmt: skip
        await wait_for(pilot, lambda: "R-INV-1" in screen_text(pilot))
        await pilot.press("escape")

        # a payment on the highlighted invoice: its target, reference and notes
        invoices = table(app, "invoices")
        invoices.move_cursor(row=invoices.get_row_index(str(period["id"])))
        await pilot.press("p")
        await wait_for(pilot, lambda: "Record payment · Jane" in screen_text(pilot))
        assert app.screen.query_one("#in-invoice").value == period["number"]
        await fill_form(pilot, app, amount="148.75", reference="SEPA-9", notes="by phone")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("4")
        await wait_for(pilot, lambda: "SEPA-9" in rows(app, "payments"))
        assert f"{period['number']}: 148.75" in rows(app, "payments")
        assert daemon.call("invoice.show", invoice=period["id"])["status"] == "paid"
        await wait_for(pilot, lambda: "648.75 EUR" in screen_text(pilot))  # total paid


async def test_edit_price_per_service_shows_on_the_upcoming_invoice(
    daemon: RunningDaemon,
) -> None:
    seed = setup_jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_client(pilot, app)
        await pilot.press("o")
        await wait_for(pilot, lambda: "Edit price · Hosted PBX" in screen_text(pilot))
        assert app.screen.query_one("#in-amount").value == "100.00"
        await fill_form(pilot, app, amount="-1")
        await wait_for(pilot, lambda: "non-negative" in error_under(app, "amount"))
        await fill_form(pilot, app, amount="80.00")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(pilot, lambda: "Discount: Hosted PBX" in rows(app, "upcoming"))
        assert "80.00" in rows(app, "services")
        assert "Total 95.20 EUR" in screen_text(pilot)
        await pilot.press("6")
        await wait_for(pilot, lambda: "base 100.00 → final 80.00" in rows(app, "audit"))
        # clearing it brings the base price back
        await pilot.press("1", "c")
        await wait_for(pilot, lambda: "Discount" not in rows(app, "upcoming"))
        assert "Total 119.00 EUR" in screen_text(pilot)
        await pilot.press("6")
        await wait_for(pilot, lambda: "price_override.cleared" in rows(app, "audit"))
        assert str(seed["contract"]["id"]) in table(app, "services").rows


async def test_invoice_issued_elsewhere_appears_without_refresh(daemon: RunningDaemon) -> None:
    seed = setup_jane(daemon)
    jane = seed["jane"]["id"]
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_client(pilot, app)
        await pilot.press("3")
        await wait_for(pilot, lambda: screen.following)
        [made] = daemon.call("invoice.amount", client=jane, date="2026-03-01", amount="7.77")
        await wait_for(pilot, lambda: made["number"] in rows(app, "invoices"))
        await wait_for(pilot, lambda: "2982.77 EUR" in screen_text(pilot))  # total invoiced
        daemon.call("charge.add", client=jane, description="Cabling", amount="3.00")
        await pilot.press("2")
        await wait_for(pilot, lambda: "Cabling" in rows(app, "charges"))
        daemon.call("payment.record", client=jane, amount="7.77", invoice=made["id"])
        await pilot.press("4")
        await wait_for(pilot, lambda: f"{made['number']}: 7.77" in rows(app, "payments"))


async def test_workspace_follows_again_after_a_daemon_restart(
    daemon: RunningDaemon,
) -> None:
    seed = setup_jane(daemon)
    jane = seed["jane"]["id"]
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        # the palette opens the highlighted client too
        await wait_for(pilot, lambda: app.screen.client_id == jane)
        await pilot.press("ctrl+p", *"client: open")
        await wait_for(pilot, lambda: "billing workspace" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientScreen))
        screen = app.screen
        assert isinstance(screen, ClientScreen)
        await wait_for(pilot, lambda: screen.following and len(screen.data) == 7)
        daemon.stop()
        await wait_for(pilot, lambda: "not reachable" in screen_text(pilot))
        again = RunningDaemon(daemon.folder, f"sqlite:///{daemon.folder / 'billing.db'}")
        try:
            await pilot.press("r")
            await wait_for(pilot, lambda: app.screen is screen and screen.following)
            [made] = again.call("invoice.amount", client=jane, date="2026-03-01", amount="3.33")
            await pilot.press("3")
            await wait_for(pilot, lambda: made["number"] in rows(app, "invoices"))
        finally:
            again.stop()


async def test_invoice_screen_shows_a_payment_made_elsewhere(daemon: RunningDaemon) -> None:
    seed = setup_jane(daemon)
    second = seed["second"]
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))
        screen = InvoiceScreen(daemon=app.daemon, invoice=second["id"])
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.invoice is not None)
        daemon.call("payment.record", client=seed["jane"]["id"], amount="487.50",
                    invoice=second["id"])  # fmt: skip
        await wait_for(pilot, lambda: "partial" in screen_text(pilot))
        assert "1000.00 EUR" in screen_text(pilot)  # the balance due


async def test_invoice_actions_follow_their_rules(daemon: RunningDaemon) -> None:
    seed = setup_jane(daemon)
    first, second = seed["first"], seed["second"]
    app = BillingApp(
        socket_path=daemon.socket,
    )
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_client(pilot, app)
        await pilot.press("3")
        invoices = table(app, "invoices")
        await wait_for(pilot, lambda: invoices.row_count == 2)

        # the paid-in-part invoice: void is refused by the daemon, with its message
        invoices.move_cursor(row=invoices.get_row_index(str(first["id"])))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InvoiceScreen))
        invoice_screen = app.screen
        assert isinstance(invoice_screen, InvoiceScreen)
        await wait_for(pilot, lambda: invoice_screen.invoice is not None)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "payments allocated" in screen_text(pilot))
        # a credit note over the balance: the daemon's message under the amount field
        await pilot.press("c")
        await wait_for(pilot, lambda: "Issue credit note" in screen_text(pilot))
        await fill_form(pilot, app, amount="5000.00")
        await wait_for(pilot, lambda: "exceeds the balance" in error_under(app, "amount"))
        await pilot.press("escape")

        # the document as text
        await wait_for(pilot, lambda: app.screen is invoice_screen)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, DocumentScreen), timeout=30)
        text = screen_text(pilot)
        assert f"Invoice {first['number']}" in text and "1487.50 EUR" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is invoice_screen)

        # the address: a form; the audit shows old → new
        await pilot.press("e")
        await wait_for(pilot, lambda: "Edit address" in screen_text(pilot))
        await fill_form(pilot, app, address="1 New Street\n10115 Berlin")
        await wait_for(pilot, lambda: app.screen is invoice_screen)
        bill_to = daemon.call("invoice.show", invoice=first["id"])["bill_to"]
        assert bill_to["address"] == "1 New Street\n10115 Berlin"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("6")
        await wait_for(pilot, lambda: "old ∅ → new 1 New Street / 10115" in rows(app, "audit"))

        # void & reissue of the open one: asked first, then a new invoice replaces it
        await pilot.press("3")
        invoices.move_cursor(row=invoices.get_row_index(str(second["id"])))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InvoiceScreen))
        second_screen = app.screen
        assert isinstance(second_screen, InvoiceScreen)
        await wait_for(pilot, lambda: second_screen.invoice is not None)
        await pilot.press("i")
        await wait_for(pilot, lambda: "Void & reissue invoice" in screen_text(pilot))
        assert app.focused is app.screen.query_one("#cancel")
        await pilot.press("y")
        await wait_for(pilot, lambda: second_screen.invoice["status"] == "void")
        [new] = [i for i in daemon.call("invoice.list", client=seed["jane"]["id"])
                 if i["replaces"] == second["id"]]  # fmt: skip
        # on a void invoice every action says why not, and nothing is asked
        for key, reason in (("v", "void already"), ("i", "void already"),
                            ("c", "cannot be credited"), ("s", "cannot be sent"),
                            ("e", "void: its")):  # fmt: skip
            await pilot.press(key)
            await wait_for(pilot, lambda reason=reason: reason in screen_text(pilot))
            assert app.screen is second_screen
        await pilot.press("escape")
        await wait_for(pilot, lambda: new["number"] in rows(app, "invoices"))


async def test_big_amounts_whole_at_80x24_and_more_columns_at_160x48(
    daemon: RunningDaemon,
) -> None:
    seed = setup_jane(daemon)
    jane = seed["jane"]["id"]
    daemon.call("invoice.amount", client=jane, date="2026-02-01", amount="1234567.89")
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await open_client(pilot, app)
        text = screen_text(pilot)
        assert "1237542.89 EUR" in text and "1237042.89 EUR" in text  # invoiced, due
        await pilot.press("3")
        await wait_for(pilot, lambda: "1234567.89  1234567.89" in screen_text(pilot))
        assert "Period" not in screen_text(pilot)  # 80 columns: the essentials only
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_client(pilot, app)
        # the next invoice's lines and the services side by side
        lines, services = table(app, "upcoming"), table(app, "services")
        assert services.region.x >= lines.region.right and services.region.y == lines.region.y
        await pilot.press("3")
        header = " ".join(str(c.label) for c in table(app, "invoices").columns.values())
        assert "Period" in header and "Origin" in header and "Document" in header
        assert "amount" in rows(app, "invoices")  # the origin
        await pilot.press("6")
        await wait_for(pilot, lambda: "invoice 1" in rows(app, "audit"))  # the subject
        assert screen.size.width == 160


def test_money_columns_fit_their_widest_amount_and_text_shrinks() -> None:
    columns = (Column("name", "Name", flex=1), Column("amount", "Amount", right=True))
    rows = [("1", ("A long description", "1234567.89")), ("2", ("x", "1.00"))]
    name, amount = column_widths(columns, rows, 40)
    assert amount == len("1234567.89")
    assert name == 40 - 2 * 2 - 2 - amount
    assert column_widths(columns, rows, 10)[1] == len("1234567.89")  # never cut


def test_audit_details_show_amounts_numbers_and_changes() -> None:
    assert (
        audit_details({"old": "", "new": "a\nb", "number": "7"}) == "old ∅ → new a / b · number 7"
    )
    assert audit_details({"base": "100.00", "final": "80.00"}) == "base 100.00 → final 80.00"
    changes = {"changes": {"tax_id": ["", "DE1"]}, "status": ["pending", "cancelled"]}
    assert audit_details(changes) == "status: pending → cancelled · tax_id: ∅ → DE1"
    # a list that is no change is a list
    rendered = {"formats": ["pdf", "facturx"], "warnings": [], "version": 2}
    assert audit_details(rendered) == "formats pdf, facturx · version 2 · warnings ∅"
