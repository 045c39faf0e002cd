"""billing-tui driven through Textual's pilot at 80×24, against no daemon and a real one."""

from __future__ import annotations

import ast
import datetime as dt
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import Static

from billingd.money import money_text
from billingd.services import runs
from billingd_tui.app import BillingApp, main
from billingd_tui.messages import RunProgressed, event_message
from billingd_tui.run_view import from_progress, merge_run
from billingd_tui.screens import (
    ClientScreen,
    ClientsScreen,
    ConfirmScreen,
    DashboardScreen,
    InvoiceScreen,
    RunsScreen,
    UnreachableScreen,
)
from billingd_tui.widgets import PagedTable, RunProgress, RunsTable
from tests.conftest import RunningDaemon
from tests.tui.pilot import SIZE, screen_text, table_text, wait_for

TUI = Path(__file__).resolve().parents[2] / "tui" / "billingd_tui"


def test_tui_imports_only_the_control_client_from_the_daemon() -> None:
    # and billingctl's rule for text shown on a terminal (pure, no daemon in it)
    allowed = {"billingd.control.client", "billingd.money", "billingd.domain.terminal_text"}
    for module in TUI.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                if name == "billingd" or name.startswith("billingd."):
                    assert name in allowed, f"{module.name} imports {name}"


def test_main_reads_the_socket_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[Path] = []
    monkeypatch.setattr(BillingApp, "run", lambda self: seen.append(self.daemon.socket_path))
    assert main(["--socket", str(tmp_path / "a.sock")]) == 0
    monkeypatch.setenv("BILLINGD_SOCKET", str(tmp_path / "b.sock"))
    assert main([]) == 0
    assert seen == [tmp_path / "a.sock", tmp_path / "b.sock"]


async def test_unreachable_daemon_shows_how_to_start_it(tmp_path: Path) -> None:
    socket_path = tmp_path / "billingd.sock"
    app = BillingApp(socket_path=socket_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "billingd serve" in screen_text(pilot))
        assert isinstance(app.screen, UnreachableScreen)
        text = screen_text(pilot)
        assert "The billingd daemon is not reachable" in text
        assert "billingd demo" in text
        message = app.screen.query_one("#unreachable", Static).content
        assert str(socket_path) in str(message)  # wrapped on screen: tmp_path is long
        await pilot.press("r")
        await wait_for(pilot, lambda: "after 1 retry" in screen_text(pilot))
        assert isinstance(app.screen, UnreachableScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_retry_reaches_the_daemon_once_its_socket_appears(daemon: RunningDaemon) -> None:
    socket_path = daemon.socket.with_name("later.sock")  # a link made once the UI is up
    app = BillingApp(socket_path=socket_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, UnreachableScreen))
        socket_path.symlink_to(daemon.socket)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))
        await wait_for(pilot, lambda: "0 clients" in screen_text(pilot))
        await pilot.press("q")
    assert app.return_code == 0


@pytest.mark.slow  # over 2 s: a UI session
async def test_clients_search_invoices_and_invoice_screen(daemon: RunningDaemon) -> None:
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    jane = daemon.call("client.add", name="Jane Client", enterprise=acme["id"])
    daemon.call("client.add", name="Bob Other", enterprise=acme["id"], company="Other Ltd")
    daemon.call(
        "contract.add",
        client=jane["id"],
        description="Hosted PBX",
        price="100.00",
        cycle="month",
        start="2026-01-01",
    )
    [invoice] = daemon.call("invoice.amount", client=jane["id"], date="2026-01-15", amount="119.00")

    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        clients = screen.query_one("#clients", PagedTable)
        invoices = screen.query_one("#invoices", PagedTable)
        await wait_for(pilot, lambda: clients.row_count == 2)
        assert "Jane Client" in table_text(clients)
        await wait_for(pilot, lambda: "2 clients" in screen_text(pilot))  # the status bar

        # Highlighting Jane shows her invoice with its number and total.
        for _ in range(clients.get_row_index(str(jane["id"]))):
            await pilot.press("down")
        await wait_for(pilot, lambda: invoices.row_count == 1)
        assert invoice["number"] in table_text(invoices)
        assert "119.00 EUR" in table_text(invoices)
        assert "119.00 EUR" in screen_text(pilot)

        # Search as you type filters on the daemon.
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.focused is screen.query_one("#search"))
        await pilot.press(*"Bob")
        await wait_for(pilot, lambda: "Jane" not in table_text(clients) and clients.row_count == 1)
        assert "Bob Other" in table_text(clients)
        await pilot.press("backspace", "backspace", "backspace", *"jane", "enter")
        await wait_for(pilot, lambda: "Bob" not in table_text(clients) and clients.row_count == 1)
        await wait_for(pilot, lambda: "Jane Client" in screen_text(pilot))
        assert app.focused is clients

        # Enter on the client opens its workspace; Enter on its invoice opens the invoice.
        await wait_for(pilot, lambda: invoices.row_count == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        invoices.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InvoiceScreen))
        await wait_for(pilot, lambda: app.screen.invoice is not None)
        text = screen_text(pilot)
        assert f"Invoice {invoice['number']}" in text
        assert "Prepayment" in text
        assert "Total" in text and "119.00" in text
        assert "Jane Client" in text

        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))
        await pilot.press("q")
    assert app.return_code == 0


async def test_clients_are_paged_from_the_daemon(daemon: RunningDaemon) -> None:
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    for n in range(7):
        daemon.call("client.add", name=f"Client {n}", enterprise=acme["id"])

    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        clients = screen.query_one("#clients", PagedTable)
        await wait_for(pilot, lambda: clients.row_count > 0)
        screen.page_size = 3
        await pilot.press("r")
        await wait_for(pilot, lambda: clients.row_count == 3 and clients.more)
        for _ in range(6):
            await pilot.press("down")
            await wait_for(pilot, lambda: not clients.fetching)
        assert clients.row_count == 7
        assert not clients.more
        await pilot.press("q")


async def test_command_palette_has_readable_commands(tmp_path: Path) -> None:
    app = BillingApp(socket_path=tmp_path / "none.sock")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, UnreachableScreen))
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: "app: quit" in screen_text(pilot))  # offered up front
        await pilot.press(*"retry")
        await wait_for(pilot, lambda: "app: quit" not in screen_text(pilot))
        assert "daemon: retry" in screen_text(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "after 1 retry" in screen_text(pilot))


async def test_a_refused_call_is_reported(daemon: RunningDaemon) -> None:
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: "0 clients" in screen_text(pilot))
        app.push_screen(InvoiceScreen(daemon=app.daemon, invoice=4242))
        await wait_for(pilot, lambda: "invoice.show refused" in screen_text(pilot))
        assert "Invoice 4242:" in screen_text(pilot)  # the reason, on the screen itself
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))


@pytest.mark.slow  # over 2 s: a UI session
async def test_the_invoice_screen_shows_its_deliveries_and_dispute(
    daemon: RunningDaemon,
) -> None:
    """R-DEL-3: an operator sees where an invoice went and why it did not arrive."""
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    jane = daemon.call("client.add", name="Jane", enterprise=acme["id"], email="jane@x.test")
    [invoice] = daemon.call("invoice.amount", client=jane["id"], date="2026-01-15", amount="9.00")
    daemon.call("invoice.send", invoice=invoice["id"])
    daemon.call("invoice.dispute", invoice=invoice["id"], reason="wrong period")
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "0 clients" not in screen_text(pilot))
        app.push_screen(InvoiceScreen(daemon=app.daemon, invoice=invoice["id"]))
        await wait_for(pilot, lambda: "email jane@x.test" in screen_text(pilot))
        text = screen_text(pilot)
        assert "Disputed wrong period" in text
        # no mail server answers this daemon: once the PDF is rendered, the email
        # waits with the reason (r refreshes the screen)
        for _ in range(60):
            if "cannot reach the mail server" in screen_text(pilot):
                break
            await pilot.press("r")
            await pilot.pause(0.5)
        assert "jane@x.test  queued  cannot reach the mail server" in screen_text(pilot)
        assert "Document ready" in screen_text(pilot)


@pytest.mark.slow  # over 2 s: a UI session
async def test_invoice_send_and_void_ask_first_and_show_refusals(daemon: RunningDaemon) -> None:
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    jane = daemon.call("client.add", name="Jane", enterprise=acme["id"], email="jane@x.test")
    paid, other = daemon.call(
        "invoice.amount", client=jane["id"], date="2026-01-15", amount="9.00", count=2
    )
    daemon.call("payment.record", client=jane["id"], amount="9.00", invoice=paid["id"])
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: "0 clients" not in screen_text(pilot))
        screen = InvoiceScreen(daemon=app.daemon, invoice=other["id"])
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.invoice is not None)

        # Enter on the question is Cancel: nothing is sent
        await pilot.press("s")
        await wait_for(pilot, lambda: "Email invoice" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
        assert daemon.call("outbox.list", channel="email") == []
        # y sends: the outbox holds the email, the screen shows it
        await pilot.press("s")
        await wait_for(pilot, lambda: "Email invoice" in screen_text(pilot))
        await pilot.press("y")
        await wait_for(pilot, lambda: "email jane@x.test" in screen_text(pilot))
        assert [m["kind"] for m in daemon.call("outbox.list", channel="email")] == ["invoice"]

        # voiding the paid invoice is refused by R-INV-8, and the reason is shown
        app.pop_screen()
        paid_screen = InvoiceScreen(daemon=app.daemon, invoice=paid["id"])
        app.push_screen(paid_screen)
        await wait_for(pilot, lambda: paid_screen.invoice is not None)
        await pilot.press("v")
        await wait_for(pilot, lambda: "Void invoice" in screen_text(pilot))
        await pilot.press("y")
        await wait_for(pilot, lambda: "payments allocated" in screen_text(pilot))
        assert daemon.call("invoice.show", invoice=paid["id"])["status"] == "paid"

        # the command palette reaches the actions by name
        await pilot.press("ctrl+p")
        await pilot.press(*"invoice: void")
        await wait_for(pilot, lambda: "Void it, keeping its number" in screen_text(pilot))


async def test_payment_and_credit_note_forms_show_the_daemons_refusals(
    daemon: RunningDaemon,
) -> None:
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    jane = daemon.call("client.add", name="Jane", enterprise=acme["id"])
    [invoice] = daemon.call("invoice.amount", client=jane["id"], date="2026-01-15", amount="119.00")
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "0 clients" not in screen_text(pilot))
        screen = InvoiceScreen(daemon=app.daemon, invoice=invoice["id"])
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.invoice is not None)

        # a payment of 0 is refused under the amount field (R-PAY-1); the form stays
        await pilot.press("p")
        await wait_for(pilot, lambda: "Record payment" in screen_text(pilot))
        app.screen.query_one("#in-amount").value = "0"
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "at least 0.01" in str(app.screen.query_one("#err-amount").render())
        )
        app.screen.query_one("#in-amount").value = "100.00"
        app.screen.query_one("#in-reference").value = "SEPA-7"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen and "Balance due" in screen_text(pilot))
        await wait_for(pilot, lambda: "19.00" in screen_text(pilot))
        assert daemon.call("invoice.show", invoice=invoice["id"])["balance"] == "19.00"

        # a credit note over the balance is refused (R-CN-1) and nothing is written
        await pilot.press("c")
        await wait_for(pilot, lambda: "Issue credit note" in screen_text(pilot))
        app.screen.query_one("#in-amount").value = "50.00"
        await pilot.press("enter")

        def form_error() -> str:
            return " ".join(str(error.render()) for error in app.screen.query(".error"))

        await wait_for(pilot, lambda: "balance" in form_error())
        assert app.screen is not screen  # the form stays open
        assert daemon.call("credit_note.list", invoice=invoice["id"]) == []
        app.screen.query_one("#in-amount").value = "19.00"
        app.screen.query_one("#in-reason").value = "goodwill"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(
            pilot, lambda: daemon.call("invoice.show", invoice=invoice["id"])["status"] == "paid"
        )


async def test_billing_settings_show_an_invalid_vat_id_under_its_field(
    daemon: RunningDaemon,
) -> None:
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    jane = daemon.call("client.add", name="Jane", enterprise=acme["id"], email="j@x.test")
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        await wait_for(pilot, lambda: screen.client_id == jane["id"])
        await pilot.press("e")
        await wait_for(pilot, lambda: "Billing settings · Jane" in screen_text(pilot))
        form = app.screen
        assert form.query_one("#in-email").value == "j@x.test"
        form.query_one("#in-tax_id").value = "DE123456789"  # a wrong check digit
        await pilot.press("enter")
        await wait_for(pilot, lambda: "DE123456789" in str(form.query_one("#err-tax_id").render()))
        assert daemon.call("client.show", id=jane["id"])["tax_id"] == ""
        form.query_one("#in-tax_id").value = "DE136695976"
        form.query_one("#in-invoice_days").value = "1,15"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
        saved = daemon.call("client.show", id=jane["id"])
        assert (saved["tax_id"], saved["invoice_days"], saved["email"]) == (
            "DE136695976", "1,15", "j@x.test",
        )  # fmt: skip


# -- dashboard and runs --------------------------------------------------------


def test_run_figures_never_go_backwards() -> None:
    event = {"name": "run.progress", "payload": {"run_id": 3, "done": 5, "total": 9, "invoices": 7}}
    message = event_message({**event, "at": "2026-01-01T00:00:00Z", "seq": 1})
    assert message == RunProgressed(3, 5, 9, 7, 0, 0)
    assert event_message({"name": "run.progress", "payload": {"done": "x"}}) is None
    assert event_message({"name": "client.parked", "payload": {}}) is None

    live = merge_run(None, from_progress(event["payload"]))
    older_reply = {"id": 3, "as_of": "2026-01-31", "status": "running", "done": 2, "invoices": 3}
    merged = merge_run(live, older_reply)
    assert (merged["as_of"], merged["done"], merged["invoices"]) == ("2026-01-31", 5, 7)
    finished = merge_run(merged, {**merged, "status": "done", "done": 9, "invoices": 12})
    late_event = from_progress({"run_id": 3, "done": 8, "total": 9, "invoices": 11})
    assert merge_run(finished, late_event) == finished


def seed_monthly_clients(daemon: RunningDaemon, count: int) -> int:
    """``count`` clients with a monthly contract that began a few months ago.

    Returns how many invoices a run today makes (the daemon's own dry run says).
    """
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    start = (dt.date.today().replace(day=1) - dt.timedelta(days=70)).replace(day=1)
    for n in range(count):
        client = daemon.call("client.add", name=f"Client {n:02}", enterprise=acme["id"])
        daemon.call(
            "contract.add",
            client=client["id"],
            description="Hosted PBX",
            price="10.00",
            cycle="month",
            start=start.isoformat(),
        )
    planned = daemon.call("run.start", dry_run=True)["invoices"]
    assert len(planned) >= count  # at least the current month for everyone
    return len(planned)


def open_balance(daemon: RunningDaemon) -> Decimal:
    total, page = Decimal(0), 1000
    for offset in range(0, 100_000, page):
        invoices = daemon.call("invoice.list", status="open", limit=page, offset=offset)
        total += sum((Decimal(i["balance"]) for i in invoices), Decimal(0))
        if len(invoices) < page:
            return total
    raise AssertionError("more open invoices than a test makes")


@pytest.mark.slow  # over 2 s: a UI session and a run
async def test_runs_screen_starts_a_run_after_confirmation(daemon: RunningDaemon) -> None:
    expected = seed_monthly_clients(daemon, 30)

    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "clients" in screen_text(pilot))
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.following)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        table = runs.query_one("#runs", RunsTable)
        await wait_for(pilot, lambda: "Runs · none yet" in screen_text(pilot))

        # It bills clients: it asks first, and "no" starts nothing.
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Start a billing run now?" in screen_text(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is runs)
        await pilot.pause(0.2)
        assert daemon.call("run.list") == []

        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is runs and table.row_count == 1)
        [run_id] = table.runs
        assert runs.run_id == run_id  # the new run is the one shown

        # Its row, bar and counts follow the run's events until it is done.
        progress = runs.query_one("#progress", RunProgress)
        await wait_for(pilot, lambda: table.runs[run_id]["status"] == "done", timeout=60)
        await wait_for(pilot, lambda: (progress.current or {}).get("status") == "done")
        assert table.runs[run_id]["invoices"] == expected
        assert progress.bar.total == 30
        assert progress.bar.progress == 30
        text = screen_text(pilot)
        assert f"30/30 clients · {expected} invoices · 0 failed" in text
        assert "manual" in text and "done" in text
        assert "Errors · none" in text
        assert daemon.call("run.show", id=run_id)["invoices"] == expected
        await pilot.press("q")
    assert app.return_code == 0


@pytest.mark.slow  # a run of many clients followed live
async def test_dashboard_follows_a_run_live(daemon: RunningDaemon) -> None:
    clients = 2 * runs.BATCH_SIZE + 50  # three batches: progress comes after each
    expected = seed_monthly_clients(daemon, clients)

    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        await wait_for(pilot, lambda: dashboard.following)
        await wait_for(pilot, lambda: "Open    0 invoices" in screen_text(pilot))
        text = screen_text(pilot)
        assert "billingd" in text and "sqlite" in text and f"{clients} clients" in text
        assert "next run" in text
        assert "Parked  0 clients" in text
        assert "No run yet" in text

        # A run started elsewhere (as billingctl would): the bar moves with its events.
        run = daemon.call("run.start")
        progress = dashboard.query_one("#progress", RunProgress)
        bar = progress.bar
        await wait_for(pilot, lambda: progress.run_id == run["id"] and 0 < bar.progress < clients)
        assert dashboard.progress_events > 0
        assert bar.total == clients
        assert f"/{clients} clients" in screen_text(pilot)
        assert f"Run {run['id']}" in screen_text(pilot)

        table = dashboard.query_one("#runs", RunsTable)
        await wait_for(pilot, lambda: (progress.current or {}).get("status") == "done", 60)
        assert bar.progress == clients
        await wait_for(pilot, lambda: table.runs.get(run["id"], {}).get("status") == "done")
        assert table.runs[run["id"]]["invoices"] == expected
        assert dashboard.progress_events >= 3  # one per batch, none missed

        # run.finished and invoice.issued refresh the totals.
        balance = open_balance(daemon)
        assert balance > 0
        await wait_for(pilot, lambda: f"Open    {expected} invoices" in screen_text(pilot))
        assert f"{money_text(balance, 'EUR')} EUR" in screen_text(pilot)
        assert f"{clients}/{clients} clients · {expected} invoices" in screen_text(pilot)
        await pilot.press("q")
    assert app.return_code == 0


@pytest.mark.slow  # over 2 s: every screen opened
async def test_screens_are_reached_by_key_and_from_the_palette(daemon: RunningDaemon) -> None:
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "0 clients" in screen_text(pilot))
        await pilot.press("ctrl+p")
        await pilot.press(*"dashboard")
        await wait_for(pilot, lambda: "dashboard: open" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("d")  # back to the dashboard below, not a second one
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert [type(s) for s in app.screen_stack] == [ClientsScreen, DashboardScreen]
        await pilot.press("ctrl+p")
        await pilot.press(*"run: start")
        await wait_for(pilot, lambda: "run: start now" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))
        assert len(app.screen_stack) == 1
        await pilot.press("q")
    assert daemon.call("run.list") == []


QUIT_FROM_DASHBOARD = textwrap.dedent(
    """
    import asyncio, sys, time
    from billingd_tui.app import BillingApp
    from billingd_tui.screens import DashboardScreen

    pressed_q = 0.0

    async def main() -> None:
        global pressed_q
        app = BillingApp(socket_path=sys.argv[1])
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("d")
            for _ in range(400):
                if isinstance(app.screen, DashboardScreen) and app.screen.following:
                    break
                await pilot.pause(0.05)
            else:
                sys.exit("the dashboard never subscribed")
            await pilot.pause(0.5)  # the worker is waiting for an event now
            pressed_q = time.monotonic()
            await pilot.press("q")

    asyncio.run(main())  # returns only once every thread worker has ended
    print(f"{time.monotonic() - pressed_q:.3f}")
    """
)


def test_quitting_from_the_dashboard_while_subscribed_is_prompt(daemon: RunningDaemon) -> None:
    done = subprocess.run(
        [sys.executable, "-c", QUIT_FROM_DASHBOARD, str(daemon.socket)],
        capture_output=True,
        text=True,
        timeout=30,  # a worker that never ends hangs the interpreter's exit
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) < 2.0
