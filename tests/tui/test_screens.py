"""The list screens (invoices, outbox, dunning, plugins, templates) and the runs screen's
parked queue and dry run, driven through the pilot at 80×24 against a real daemon."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea

from billingd_tui.app import BillingApp
from billingd_tui.screens import ClientsScreen, ConfirmScreen, InvoiceScreen, RunsScreen
from billingd_tui.screens.document import DocumentScreen
from billingd_tui.screens.dry_run import DryRunScreen
from billingd_tui.screens.dunning import DunningScreen
from billingd_tui.screens.invoices import InvoicesScreen
from billingd_tui.screens.outbox import OutboxScreen
from billingd_tui.screens.parked import ParkedScreen
from billingd_tui.screens.plugins import PluginsScreen
from billingd_tui.screens.templates import PREVIEWS, TemplatesScreen
from tests.conftest import RunningDaemon
from tests.delivery.conftest import wait_until
from tests.tui.pilot import SIZE, screen_text, table_text, wait_for


def seed(daemon: RunningDaemon) -> dict[str, Any]:
    """Acme with Jane (billing email) and Bob (none); invoices in January and March 2026
    (overdue on today's clock), one paid, one due in 2099 with a wide amount."""
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    jane = daemon.call("client.add", name="Jane Client", enterprise=acme["id"], email="j@x.test")
    bob = daemon.call("client.add", name="Bob Other", enterprise=acme["id"])

    def invoice(client: dict[str, Any], date: str, amount: str) -> dict[str, Any]:
        return daemon.call("invoice.amount", client=client["id"], date=date, amount=amount)[0]

    made = {
        "january": invoice(jane, "2026-01-15", "119.00"),
        "paid": invoice(jane, "2026-01-20", "5.00"),
        "march": invoice(bob, "2026-03-31", "7.00"),
        "wide": invoice(jane, "2099-01-01", "1234567.89"),
    }
    daemon.call("payment.record", client=jane["id"], amount="5.00", invoice=made["paid"]["id"])
    return {"acme": acme, "jane": jane, "bob": bob, **made}


async def open_section(pilot: Pilot, key: str, kind: type) -> Any:
    """Press a section's key on the clients screen; the screen once it follows events."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, kind) and app.screen.following)
    return app.screen


@pytest.mark.slow
async def test_invoices_filter_mark_send_and_open(daemon: RunningDaemon) -> None:
    made = seed(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_section(pilot, "i", InvoicesScreen)
        table = screen.query_one("#invoices", DataTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        text = screen_text(pilot)
        assert "1234567.89 EUR" in text and "1234567.89" in text.split("EUR", 1)[1]
        assert "Jane Client" in text and "Bob Other" in text

        # period filter, typed; a bad one is refused by the daemon and said readably
        await pilot.press("slash")
        assert app.focused is screen.query_one("#filter-status")
        period = screen.query_one("#filter-period", Input)
        period.value = "2026-1"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "period must be a month YYYY-MM" in screen_text(pilot))
        period.value = "2026-01"
        period.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 2 and app.focused is table)
        assert "Bob Other" not in table_text(table)
        # overdue only: the paid January invoice goes
        await pilot.press("o")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert "119.00 EUR" in table_text(table)
        assert "overdue yes" in screen_text(pilot)
        period.value = ""
        await pilot.press("r")
        await wait_for(pilot, lambda: table.row_count == 2)  # January's and Bob's
        # a client by (part of) its name, or its id
        client = screen.query_one("#filter-client", Input)
        client.value = "nobody"
        await pilot.press("r")
        await wait_for(pilot, lambda: "No client matches 'nobody'." in screen_text(pilot))
        client.value = "bob"
        await pilot.press("r")
        await wait_for(pilot, lambda: table.row_count == 1 and "Bob Other" in table_text(table))
        client.value = str(made["jane"]["id"])
        await pilot.press("r")
        await wait_for(pilot, lambda: table.row_count == 1 and "Jane" in table_text(table))
        client.value = ""
        await pilot.press("r")
        await wait_for(pilot, lambda: table.row_count == 2)

        # mark both, send: asks first (Cancel focused); Bob has no email: refused, said
        table.move_cursor(row=0)
        await pilot.press("space", "space")
        await wait_for(pilot, lambda: len(screen.marked) == 2)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Email 2 invoices" in screen_text(pilot)
        await pilot.press("enter")  # Cancel
        await wait_for(pilot, lambda: app.screen is screen)
        assert daemon.call("outbox.list", channel="email") == []
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "Sent 1 of 2" in screen_text(pilot))
        assert "no billing email" in screen_text(pilot)
        assert not screen.marked
        [email] = daemon.call("outbox.list", channel="email")
        assert email["invoice_id"] == made["january"]["id"]

        # an invoice issued elsewhere appears without a refresh
        table.focus()
        await pilot.press("o")
        await wait_for(pilot, lambda: table.row_count == 4)
        table.move_cursor(row=table.get_row_index(str(made["march"]["id"])))
        daemon.call("invoice.amount", client=made["bob"]["id"], date="2099-02-02", amount="3.00")
        await wait_for(pilot, lambda: table.row_count == 5)
        assert screen.highlighted() == str(made["march"]["id"])  # the cursor stays on its row

        # Enter opens the invoice
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InvoiceScreen))
        await wait_for(pilot, lambda: "Bob Other" in screen_text(pilot))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)


@pytest.mark.slow  # over 2 s: a UI session
async def test_outbox_filter_show_retry_and_cancel(daemon: RunningDaemon) -> None:
    """No mail server answers this daemon: an email waits queued, with the reason."""
    made = seed(daemon)
    daemon.call("invoice.send", invoice=made["january"]["id"])
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))
        await pilot.press("ctrl+p")
        await pilot.press(*"outbox: open")
        await wait_for(pilot, lambda: "Emails, uploads, notices" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OutboxScreen) and app.screen.following)
        screen = app.screen
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: "j@x.test" in table_text(table))
        [email] = daemon.call("outbox.list", channel="email")
        await wait_for(pilot, lambda: f"#{email['id']} email invoice" in screen_text(pilot))
        assert "To j@x.test" in screen_text(pilot)
        await pilot.press("enter")  # the message's invoice
        await wait_for(pilot, lambda: isinstance(app.screen, InvoiceScreen))
        assert app.screen.invoice_ref == made["january"]["id"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)

        # a sent message (the notice of the issued invoice) cannot be retried nor cancelled:
        # the daemon's reason is shown
        [sent, *_] = daemon.call("outbox.list", state="sent")
        table.move_cursor(row=table.get_row_index(str(sent["id"])))
        await pilot.press("t")
        await wait_for(pilot, lambda: "outbox.retry refused" in screen_text(pilot))
        assert f"outbox message {sent['id']} is sent" in screen_text(pilot)
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: "outbox.cancel refused" in screen_text(pilot))
        assert daemon.call("outbox.show", id=sent["id"])["state"] == "sent"
        table.move_cursor(row=table.get_row_index(str(email["id"])))
        # cancel asks first; then it is cancelled, and can be retried
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert f"Stop message #{email['id']} to j@x.test" in screen_text(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: f"Message #{email['id']} is cancelled." in screen_text(pilot))
        assert daemon.call("outbox.show", id=email["id"])["state"] == "cancelled"
        await pilot.press("f", "f", "f", "f", "f")  # all → … → cancelled
        await wait_for(pilot, lambda: "Outbox · cancelled · 1" in screen_text(pilot))
        await pilot.press("t")
        await wait_for(pilot, lambda: "Outbox · cancelled · none" in screen_text(pilot))
        assert daemon.call("outbox.show", id=email["id"])["state"] in ("queued", "sending")

        # a message queued elsewhere appears without a refresh
        await pilot.press("f")
        await wait_for(pilot, lambda: "Outbox · all" in screen_text(pilot))
        rows = table.row_count
        daemon.call("client.update", id=made["bob"]["id"], email="bob@x.test")
        daemon.call("invoice.send", invoice=made["march"]["id"])
        await wait_for(pilot, lambda: "bob@x.test" in table_text(table))
        assert table.row_count > rows


@pytest.mark.slow
async def test_dunning_shows_overdue_invoices_pause_and_resume(daemon: RunningDaemon) -> None:
    made = seed(daemon)
    daemon.call(
        "dunning.set_plan", enterprise=made["acme"]["id"], steps=["Reminder:7", "Final:400:5"]
    )
    january = made["january"]["id"]
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_section(pilot, "n", DunningScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)  # January's and March's
        text = screen_text(pilot)
        assert "119.00 EUR" in text and "7.00 EUR" in text
        table.move_cursor(row=table.get_row_index(str(january)))
        await wait_for(pilot, lambda: "Invoice 1 " in screen_text(pilot))
        assert "days overdue" in screen_text(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InvoiceScreen))
        assert app.screen.invoice_ref == january
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)

        await pilot.press("p")
        await wait_for(pilot, lambda: "Reminders for invoice 1 paused." in screen_text(pilot))
        assert daemon.call("dunning.show", invoice=january)["paused"] is True
        await wait_for(pilot, lambda: "paused" in table_text(table))
        # the palette offers resume now, not pause
        await pilot.press("ctrl+p")
        await pilot.press(*"dunning: ")
        await wait_for(pilot, lambda: "dunning: resume" in screen_text(pilot))
        assert "dunning: pause" not in screen_text(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)

        # resumed elsewhere: the screen follows
        daemon.call("dunning.resume", invoice=january)
        await wait_for(pilot, lambda: "paused" not in table_text(table))
        # paid elsewhere: no longer overdue
        daemon.call("payment.record", client=made["jane"]["id"], amount="119.00", invoice=january)
        await wait_for(pilot, lambda: table.row_count == 1)
        # voided elsewhere, paused here before the list has followed: the rule's refusal
        march = made["march"]["id"]
        assert screen.highlighted() == str(march)
        daemon.call("invoice.void", invoice=march)
        screen.set_paused(True)
        await wait_for(pilot, lambda: "dunning.pause refused" in screen_text(pilot))
        assert "void invoice is not dunned" in screen_text(pilot)
        await wait_for(pilot, lambda: table.row_count == 0)


async def test_plugins_list_the_loaded_ones(daemon: RunningDaemon) -> None:
    plugins = daemon.call("plugins.list")
    pdf = next(p for p in plugins if "pdf" in (p.get("registers") or {}).get("renderer", ()))
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, PluginsScreen))
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == len(plugins))
        assert pdf["name"] in table_text(table) and "built in" in table_text(table)
        table.move_cursor(row=table.get_row_index(pdf["name"]))
        await wait_for(pilot, lambda: f"{pdf['name']} {pdf['version']}" in screen_text(pilot))
        assert "Registers renderer" in screen_text(pilot)


@pytest.mark.slow  # over 2 s: a UI session
async def test_templates_list_and_preview(daemon: RunningDaemon) -> None:
    operator = daemon.folder / "data" / "templates"
    operator.mkdir(parents=True, exist_ok=True)
    (operator / "broken.tpl").write_text("title\nnonsense directive\n", encoding="utf-8")
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))
        await pilot.press("ctrl+p")
        await pilot.press(*"templates: open", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplatesScreen))
        screen = app.screen
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: "invoice.tpl" in table_text(table))
        assert "operator" in table_text(table) and "packaged" in table_text(table)

        table.move_cursor(row=table.get_row_index("invoice.tpl"))
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, DocumentScreen), timeout=30)
        await wait_for(pilot, lambda: "saved as" in screen_text(pilot))
        assert "Page 1/" in app.screen.query_one(TextArea).text
        assert (PREVIEWS / "invoice-preview.pdf").read_bytes().startswith(b"%PDF")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)

        # a template the daemon cannot parse: its reason is shown
        table.move_cursor(row=table.get_row_index("broken.tpl"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "template.preview refused" in screen_text(pilot))
        assert "broken.tpl" in screen_text(pilot)


@pytest.fixture
def bounded(short_dir: Path) -> Iterator[RunningDaemon]:
    """A daemon that parks a client with more than 3 invoices to catch up (R-RUN-14)."""
    database = f"sqlite:///{short_dir / 'billing.db'}"
    running = RunningDaemon(short_dir, database, "invoicing: manual\ncatch_up_limit: 3\n")
    yield running
    running.stop()


@pytest.mark.slow  # over 2 s: a UI session
async def test_runs_dry_run_preview_and_the_parked_queue(bounded: RunningDaemon) -> None:
    daemon = bounded
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    month = dt.date.today().replace(day=1)
    year_ago = month.replace(year=month.year - 1)
    clients = {}
    for name, start in (("Behind One", year_ago), ("Behind Two", year_ago), ("Current", month)):
        client = clients[name] = daemon.call("client.add", name=name, enterprise=acme["id"])
        daemon.call(
            "contract.add", client=client["id"], description="Hosted PBX", price="1487.50",
            cycle="month", start=start.isoformat(),
        )  # fmt: skip
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await open_section(pilot, "u", RunsScreen)
        runs = app.screen

        # the dry run names the client of each invoice it would issue; nothing is written
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, DryRunScreen))
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        text = screen_text(pilot)
        assert f"Behind One ({clients['Behind One']['id']})" in text
        assert f"Current ({clients['Current']['id']})" in table_text(table)
        assert "1487.50 EUR" in text  # not cut at 80 columns
        assert "nothing was written" in text
        assert daemon.call("invoice.list") == [] and daemon.call("run.list") == []
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is runs)

        run = daemon.call("run.start")
        wait_until(lambda: daemon.call("run.show", id=run["id"])["status"] != "running")
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, ParkedScreen) and app.screen.following)
        parked = app.screen
        table = parked.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert "Behind One" in table_text(table) and "safety bound of 3" in table_text(table)

        # released elsewhere: the queue follows
        daemon.call("parked.release", client=clients["Behind Two"]["id"])
        await wait_for(pilot, lambda: table.row_count == 1)
        # released here, after asking (Cancel first)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Release Behind One" in screen_text(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is parked)
        assert len(daemon.call("parked.list")) == 1
        await pilot.press("l", "y")
        await wait_for(pilot, lambda: "released: the next run bills it" in screen_text(pilot))
        await wait_for(pilot, lambda: table.row_count == 0)
        assert daemon.call("parked.list") == []
        # a client that is not parked: the daemon's refusal is shown
        parked.release(clients["Current"]["id"])
        await wait_for(pilot, lambda: "parked.release refused" in screen_text(pilot))
        assert "is not parked" in screen_text(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is runs)


@pytest.mark.slow  # over 2 s: a UI session at three sizes
async def test_wide_terminals_show_dates_and_subjects(daemon: RunningDaemon) -> None:
    made = seed(daemon)
    daemon.call("invoice.send", invoice=made["january"]["id"])
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_section(pilot, "i", InvoicesScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        assert "Issued" in screen_text(pilot) and "2026-01-15" in table_text(table)
        # narrowed to 80 columns: the client's column shrinks, no amount is cut
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "1234567.89 EUR  1234567.89" in screen_text(pilot))
        assert all(len(line) <= 80 for line in screen_text(pilot).splitlines())
        await pilot.resize_terminal(160, 48)
        await pilot.press("b")  # not a key of the invoices screen: the outbox
        await wait_for(pilot, lambda: isinstance(app.screen, OutboxScreen))
        await wait_for(pilot, lambda: "Subject" in screen_text(pilot))
        table = app.screen.query_one(DataTable)
        [email] = daemon.call("outbox.list", channel="email")
        created = email["created_at"][:16].replace("T", " ")
        await wait_for(pilot, lambda: created in table_text(table))
