"""One client's billing workspace (seed 003): summary cards, then a tab per section.

The cards stay on top; the tabs are the upcoming invoice (with edit price per service),
pending charges, invoices, payments, credit notes and the audit trail. Each section is
read by a worker of its own; the daemon's events reload the sections they change, so
an invoice issued elsewhere appears without pressing ``r``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, get_current_worker

from billingd_tui.client_view import (
    WIDE,
    Column,
    Row,
    allocations,
    audit_details,
    cards,
    column_widths,
    for_width,
    next_amount,
    table_cell,
    upcoming_head,
)
from billingd_tui.connection import Daemon
from billingd_tui.format import assemble, inert
from billingd_tui.messages import ClientSectionLoaded, DaemonRefused, Following, LedgerChanged
from billingd_tui.run_view import instant
from billingd_tui.screens.billgroups import BillGroupsScreen
from billingd_tui.screens.confirm import ConfirmScreen
from billingd_tui.screens.form import Field, FormScreen
from billingd_tui.screens.invoice import InvoiceScreen
from billingd_tui.screens.settings import edit_billing_settings
from billingd_tui.screens.workspace import WorkspaceScreen

EVENTS = ("invoice.", "payment.", "credit_note.", "charge.", "price_override.")
AFFECTS = {
    "invoice.": ("summary", "upcoming", "invoices", "audit"),
    "payment.": ("summary", "invoices", "payments", "audit"),
    "credit_note.": ("summary", "invoices", "credit_notes", "audit"),
    "charge.": ("upcoming", "charges", "audit"),
    "price_override.": ("upcoming", "audit"),
}
"""Which sections an event (by name prefix) makes stale."""
SECTIONS = ("summary", "upcoming", "charges", "invoices", "payments", "credit_notes", "audit")
REFRESH_DELAY = 0.3  # seconds: a burst of events (a run, a payment's allocations) costs one read
UPCOMING_DAYS = 92  # the dry run looks this far ahead for the next invoice
LISTED = 200  # invoices, payments and audit events read per section

UPCOMING_COLUMNS = (
    Column("kind", "Kind"),
    Column("description", "Item", flex=1),
    Column("net", "Net", right=True),
    Column("rate", "Tax%", right=True),
    Column("tax", "Tax", right=True),
)
SERVICE_COLUMNS = (
    Column("id", "ID"),
    Column("service", "Service", flex=1),
    Column("cycle", "Cycle"),
    Column("base", "Base", right=True),
    Column("next", "Next", right=True),
)
CHARGE_COLUMNS = (
    Column("id", "ID"),
    Column("description", "Description", flex=3),
    Column("service", "Service", flex=2),
    Column("date", "From"),
    Column("notes", "Notes", flex=3, wide=True),
    Column("status", "Status"),
    Column("amount", "Amount", right=True),
)
INVOICE_COLUMNS = (
    Column("number", "Number", flex=1),
    Column("status", "Status"),
    Column("issued", "Issued"),
    Column("due", "Due"),
    Column("period", "Period", wide=True),
    Column("origin", "Origin", wide=True),
    Column("document", "Document", wide=True),
    Column("total", "Total", right=True),
    Column("balance", "Balance", right=True),
)
PAYMENT_COLUMNS = (
    Column("received", "Received"),
    Column("method", "Method", wide=True),
    Column("reference", "Reference", flex=1),
    Column("notes", "Notes", flex=1, wide=True),
    Column("allocations", "Allocated to", flex=2),
    Column("amount", "Amount", right=True),
)
CREDIT_NOTE_COLUMNS = (
    Column("number", "Number"),
    Column("date", "Date"),
    Column("invoice", "Invoice"),
    Column("reason", "Reason", flex=1),
    Column("document", "Document", wide=True),
    Column("amount", "Amount", right=True),
)
AUDIT_COLUMNS = (
    Column("when", "When (UTC)"),
    Column("event", "Event"),
    Column("actor", "Actor"),
    Column("subject", "Subject", wide=True),
    Column("details", "Details", flex=1, wrap=True),
)


class Section(TabPane):
    """A tab whose key bindings act on the screen (and show in the footer while it is
    the active tab); the same actions are in the screen's palette."""


class UpcomingPane(Section):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "screen.edit_price", "Edit price", id="client.edit_price"),
        Binding("c", "screen.clear_price", "Clear price", id="client.clear_price"),
    ]


class ChargesPane(Section):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "screen.add_charge", "Add charge", id="client.add_charge"),
        Binding("x", "screen.cancel_charge", "Cancel charge", id="client.cancel_charge"),
    ]


class InvoicesPane(Section):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "screen.invoice_period", "Invoice period", id="client.invoice_period"),
        Binding("m", "screen.invoice_amount", "For amount", id="client.invoice_amount"),
        Binding("p", "screen.record_payment", "Payment", id="client.invoice_payment"),
    ]


class PaymentsPane(Section):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "screen.record_payment", "Record payment", id="client.payment"),
    ]


TABS = (
    ("upcoming", "Upcoming", UpcomingPane),
    ("charges", "Charges", ChargesPane),
    ("invoices", "Invoices", InvoicesPane),
    ("payments", "Payments", PaymentsPane),
    ("credit_notes", "Credit notes", Section),
    ("audit", "Audit", Section),
)
"""(tab id, title, pane class); the number keys 1–6 go to them in this order."""


class ClientScreen(WorkspaceScreen):
    """A client's billing workspace, live; Enter on an invoice or credit note opens it."""

    SUB_TITLE = "Client"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (WIDE, "-wide"),
    ]
    DEFAULT_CSS = """
    ClientScreen #cards {
        height: 4;
    }
    ClientScreen .card {
        width: 1fr;
        height: 4;
        border: round $primary-darken-2;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ClientScreen #tabs, ClientScreen TabPane {
        height: 1fr;
    }
    ClientScreen TabPane {
        padding: 0;
    }
    ClientScreen DataTable {
        height: 1fr;
        border-top: solid $primary-darken-2;
        border-title-color: $text;
    }
    ClientScreen DataTable:focus {
        border-top: solid $accent;
    }
    ClientScreen #upcoming-tables {
        layout: vertical;
        height: 1fr;
    }
    ClientScreen.-wide #upcoming-tables {
        layout: horizontal;
    }
    ClientScreen.-wide #upcoming-tables DataTable {
        width: 1fr;
    }
    ClientScreen #upcoming-head {
        height: auto;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "back", "Back", id="client.back"),
        Binding("r", "refresh", "Refresh", id="client.refresh"),
        Binding("s", "edit_settings", "Settings", id="client.settings"),
        Binding("b", "bill_groups", "Bill groups", id="client.bill_groups"),
        *(
            Binding(str(n), f"show_tab('{tab}')", title, show=False, id=f"client.tab_{tab}")
            for n, (tab, title, _) in enumerate(TABS, start=1)
        ),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("client: refresh", "Reload the client's workspace", "refresh"),
        ("client: edit billing settings", "This client's billing settings", "edit_settings"),
        ("client: bill groups", "This client's bill groups, to add and edit", "bill_groups"),
        ("price: edit", "The highlighted service's amount on the next invoice", "edit_price"),
        ("price: clear", "Remove the highlighted service's price override", "clear_price"),
        ("charge: add", "A one-time charge for the next invoice", "add_charge"),
        ("charge: cancel", "Cancel the highlighted pending charge (asks first)", "cancel_charge"),
        ("invoice: create for period", "Invoice this client for a period", "invoice_period"),
        ("invoice: create for amount", "Invoices for a gross amount", "invoice_amount"),
        ("payment: record", "Record a manual payment for this client", "record_payment"),
        *((f"client: {title.lower()}", f"Show the {title.lower()} tab", f"show_tab('{tab}')")
          for tab, title, _ in TABS),
        ("client: back", "Back to the clients", "back"),
    )  # fmt: skip

    def __init__(self, *, daemon: Daemon, client_id: int) -> None:
        super().__init__(daemon=daemon)
        self.client_id = client_id
        self.client: dict[str, Any] | None = None
        self.data: dict[str, Any] = {}
        """Each section's last answer from the daemon."""
        self.following = False
        self._shown: dict[str, tuple[Sequence[Column], list[Row]]] = {}
        self._stale: set[str] = set()
        self._refresh_timer: Timer | None = None
        self._follower: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="cards"):
            for title, _ in cards({}):
                yield Static(Text(title, style="dim"), classes="card")
        with TabbedContent(id="tabs"):
            for tab, title, pane in TABS:
                with pane(title, id=f"tab-{tab}"):
                    if tab == "upcoming":
                        yield Static(id="upcoming-head")
                        with Horizontal(id="upcoming-tables"):
                            yield DataTable(id="upcoming", cursor_type="row", zebra_stripes=True)
                            yield DataTable(id="services", cursor_type="row", zebra_stripes=True)
                    else:
                        yield DataTable(id=tab, cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        titles = {tab: title for tab, title, _ in TABS}
        for table in self.query(DataTable):
            table.border_title = titles.get(str(table.id))
        self.query_one("#services", DataTable).border_title = "Services"
        self.query_one("#upcoming", DataTable).border_title = "Next invoice"
        self.follow_events()  # Following, once subscribed, loads every section

    # -- tabs ----------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{tab}"
        self._focus_tab(tab)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_tab(str(event.pane.id).removeprefix("tab-"))
        self.call_after_refresh(self._refill)  # filled while hidden, at a guessed width

    def _focus_tab(self, tab: str) -> None:
        """Focus the tab's table, so that its bindings show in the footer."""
        self.query_one(f"#tab-{tab}").query(DataTable).first().focus()

    def _on_tab(self, tab: str) -> None:
        if self.query_one(TabbedContent).active != f"tab-{tab}":
            self.action_show_tab(tab)

    # -- loading ---------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Reload every section; subscribe again if the subscription was lost (a restart)."""
        if self._follower is None or self._follower.is_finished:
            self.follow_events()
        else:
            self.load(*SECTIONS)

    def follow_events(self) -> None:
        self.following = False
        self._follower = self.run_worker(self._follow, thread=True, exclusive=True, group="follow")

    def _follow(self) -> None:
        self.daemon.follow(self, EVENTS)

    def on_following(self, message: Following) -> None:
        self.following = True
        self.load(*SECTIONS)

    def on_ledger_changed(self, message: LedgerChanged) -> None:
        for prefix, sections in AFFECTS.items():
            if message.event.startswith(prefix):
                self._stale.update(sections)
        if self._stale and self._refresh_timer is None:
            self._refresh_timer = self.set_timer(REFRESH_DELAY, self._load_stale)

    def _load_stale(self) -> None:
        self._refresh_timer = None
        stale, self._stale = sorted(self._stale), set()
        self.load(*stale)

    def load(self, *sections: str) -> None:
        """Read ``sections`` from the daemon, each in a worker of its own."""
        for section in sections:
            fetch = partial(self._fetch, section)
            self.run_worker(fetch, thread=True, exclusive=True, group=f"load-{section}")

    def _fetch(self, section: str) -> None:
        data = getattr(self, f"fetch_{section}")()
        if data is not None and not get_current_worker().is_cancelled:
            self.post_message(ClientSectionLoaded(section, data))

    def _ask(self, method: str, **params: Any) -> Any:
        return self.daemon.request(self, method, **params)

    def fetch_summary(self) -> Any:
        client = self._ask("client.show", id=self.client_id)
        summary = self._ask("summary", client=self.client_id) if client is not None else None
        return None if summary is None else {"client": client, "summary": summary}

    def fetch_upcoming(self) -> Any:
        """What the next run would invoice (a dry run, nothing written), and the services."""
        clock = self._ask("clock.show")
        if clock is None:
            return None
        until = dt.date.fromisoformat(str(clock["now"])[:10]) + dt.timedelta(UPCOMING_DAYS)
        dry = self._ask("run.start", dry_run=True, client=self.client_id, until=until.isoformat())
        contracts = self._ask("contract.list", client=self.client_id) if dry else None
        if contracts is None:
            return None
        return {
            "planned": dry["invoices"], "until": until.isoformat(), "contracts": contracts,
            "today": str(clock["now"])[:10],
        }  # fmt: skip

    def fetch_charges(self) -> Any:
        charges = self._ask("charge.list", client=self.client_id)
        if charges is None:
            return None
        contracts = self._ask("contract.list", client=self.client_id)
        return None if contracts is None else {"charges": charges, "contracts": contracts}

    def fetch_invoices(self) -> Any:
        return self._ask("invoice.list", client=self.client_id, limit=LISTED + 1)

    def fetch_payments(self) -> Any:
        payments = self._ask("payment.list", client=self.client_id, limit=LISTED)
        invoices = self.fetch_invoices() if payments is not None else None
        return None if invoices is None else {"payments": payments, "invoices": invoices}

    def fetch_credit_notes(self) -> Any:
        notes = self._ask("credit_note.list", client=self.client_id)
        invoices = self.fetch_invoices() if notes is not None else None
        return None if invoices is None else {"notes": notes, "invoices": invoices}

    def fetch_audit(self) -> Any:
        return self._ask("audit.list", client=self.client_id, limit=LISTED)

    # -- showing ---------------------------------------------------------------------

    def on_client_section_loaded(self, message: ClientSectionLoaded) -> None:
        self.data[message.section] = message.data
        getattr(self, f"show_{message.section}")(message.data)

    def fill(self, table_id: str, columns: Sequence[Column], rows: list[Row]) -> None:
        """Replace the table's rows; money columns as wide as their widest amount, text
        columns take what is left. The cursor stays on its row when the row is still there."""
        self._shown[table_id] = (columns, rows)
        table = self.query_one(f"#{table_id}", DataTable)
        width = table.size.width or self.size.width
        columns, rows = for_width(columns, rows, width)
        widths = column_widths(columns, rows, width)
        keep = None
        if table.row_count and table.cursor_row < table.row_count:
            keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear(columns=True)
        for column, size in zip(columns, widths, strict=True):
            table.add_column(Text(column.label, justify="right" if column.right else "left"),
                             key=column.key, width=size)  # fmt: skip
        wraps = any(c.wrap for c in columns)
        for key, values in rows:
            cells = [table_cell(v, c) for v, c in zip(values, columns, strict=True)]
            table.add_row(*cells, key=key, height=None if wraps else 1)
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))

    def on_resize(self) -> None:
        self.call_after_refresh(self._refill)

    def _refill(self) -> None:
        for table_id, (columns, rows) in list(self._shown.items()):
            self.fill(table_id, columns, rows)

    def _titled(self, table_id: str, title: str, count: int, more: bool = False) -> None:
        self.query_one(f"#{table_id}", DataTable).border_title = (
            f"{title} · {count}{'+' if more else ''}" if count else f"{title} · none"
        )

    def show_summary(self, data: dict[str, Any]) -> None:
        self.client = data["client"]
        name = str(self.client.get("name"))
        company = self.client.get("company")
        self.sub_title = inert(f"{name} · {company}" if company and company != name else name)
        for widget, (title, amount) in zip(
            self.query(".card"), cards(data["summary"]), strict=True
        ):
            assert isinstance(widget, Static)
            widget.update(assemble((title, "dim"), "\n", (amount, "bold")))

    def show_upcoming(self, data: dict[str, Any]) -> None:
        planned = data["planned"]
        self.query_one("#upcoming-head", Static).update(upcoming_head(planned, data["until"]))
        lines = planned[0].get("lines") or [] if planned else []
        rows = [
            (str(n), (line.get("kind"), line.get("description"), line.get("net"),
                      line.get("tax_rate"), line.get("tax")))
            for n, line in enumerate(lines)
        ]  # fmt: skip
        self.fill("upcoming", UPCOMING_COLUMNS, rows)
        services = [
            (str(c["id"]), (c["id"], c.get("description"), _cycle(c), _base(c),
                            next_amount(c, planned)))
            for c in data["contracts"] if c.get("status") == "active"
        ]  # fmt: skip
        self.fill("services", SERVICE_COLUMNS, services)
        self._titled("services", "Services", len(services))

    def show_charges(self, data: dict[str, Any]) -> None:
        names = {c["id"]: c.get("description") for c in data["contracts"]}
        rows = [
            (str(c["id"]), (c["id"], c.get("description"), names.get(c.get("contract_id"), ""),
                            c.get("schedule_date"), c.get("notes"), c.get("status"),
                            c.get("amount")))
            for c in data["charges"]
        ]  # fmt: skip
        self.fill("charges", CHARGE_COLUMNS, rows)
        pending = sum(c.get("status") == "pending" for c in data["charges"])
        self._titled("charges", f"Charges ({pending} pending)", len(rows))

    def show_invoices(self, invoices: list[dict[str, Any]]) -> None:
        shown = invoices[:LISTED]
        rows = [
            (str(i["id"]), (i.get("number"), i.get("status"), i.get("issue_date"),
                            i.get("due_date"), _period(i), i.get("origin"), i.get("document"),
                            i.get("total"), i.get("balance")))
            for i in shown
        ]  # fmt: skip
        self.fill("invoices", INVOICE_COLUMNS, rows)
        self._titled("invoices", "Invoices", len(rows), more=len(invoices) > LISTED)

    def show_payments(self, data: dict[str, Any]) -> None:
        numbers = _numbers(data["invoices"])
        rows = [
            (str(p["id"]), (instant(p.get("received_at")), p.get("method"), p.get("reference"),
                            p.get("notes"), allocations(p, numbers), p.get("amount")))
            for p in data["payments"]
        ]  # fmt: skip
        self.fill("payments", PAYMENT_COLUMNS, rows)
        self._titled("payments", "Payments", len(rows))

    def show_credit_notes(self, data: dict[str, Any]) -> None:
        numbers = _numbers(data["invoices"])
        rows = [
            (str(n["id"]), (n.get("number"), n.get("issue_date"),
                            numbers.get(n.get("invoice_id"), n.get("invoice_id")),
                            n.get("reason"), n.get("document"), n.get("amount")))
            for n in data["notes"]
        ]  # fmt: skip
        self.fill("credit_notes", CREDIT_NOTE_COLUMNS, rows)
        self._titled("credit_notes", "Credit notes", len(rows))

    def show_audit(self, events: list[dict[str, Any]]) -> None:
        rows = [
            (str(e["id"]), (instant(e.get("created_at")), e.get("event"), e.get("actor"),
                            f"{e.get('subject_type')} {e.get('subject_id')}",
                            audit_details(e.get("details") or {})))
            for e in events
        ]  # fmt: skip
        self.fill("audit", AUDIT_COLUMNS, rows)
        self._titled("audit", "Audit trail", len(rows))

    # -- opening ---------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None:
            return
        if event.data_table.id == "invoices":
            self.open_invoice(int(key))
        elif event.data_table.id == "credit_notes":
            note = next(n for n in self.data["credit_notes"]["notes"] if str(n["id"]) == key)
            self.open_invoice(int(note["invoice_id"]))
        elif event.data_table.id == "services":
            self.action_edit_price()

    def on_daemon_refused(self, message: DaemonRefused) -> None:
        """A section the daemon refuses says why where it would be (the app notifies too)."""
        if message.method == "run.start":  # the upcoming invoice is a dry run: operators only
            head = Text(inert(f"No upcoming invoice: {message.message}"), style="italic")
            self.query_one("#upcoming-head", Static).update(head)

    def today(self) -> str:
        """The daemon's today (its test clock's when it has one), else this machine's."""
        upcoming = self.data.get("upcoming") or {}
        return str(upcoming.get("today") or dt.date.today().isoformat())

    def open_invoice(self, invoice_id: int) -> None:
        name = (self.client or {}).get("name")
        screen = InvoiceScreen(daemon=self.daemon, invoice=invoice_id, client_name=name)
        self.app.push_screen(screen)

    # -- actions ---------------------------------------------------------------------

    def action_edit_settings(self) -> None:
        """The client's billing settings (seed 000); the cards show a new name or currency."""
        edit_billing_settings(self, self.daemon, self.client_id, lambda _: self.load("summary"))

    def action_bill_groups(self) -> None:
        name = (self.client or {}).get("name")
        groups = BillGroupsScreen(daemon=self.daemon, client_id=self.client_id, client_name=name)
        self.app.push_screen(groups)

    def highlighted(self, table_id: str) -> str | None:
        """The key of the table's highlighted row, or None when it has none."""
        table = self.query_one(f"#{table_id}", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _service(self) -> dict[str, Any] | None:
        """The highlighted service (contract), after saying why there is none."""
        self._on_tab("upcoming")
        key = self.highlighted("services")
        contracts = (self.data.get("upcoming") or {}).get("contracts") or []
        found = next((c for c in contracts if str(c["id"]) == key), None)
        if found is None:
            self.notify("This client has no active service to price.", severity="warning")
        return found

    def action_edit_price(self) -> None:
        """The service's final amount on the next invoice (seed 003 "Edit price")."""
        contract = self._service()
        if contract is None:
            return
        base = _base(contract)
        now = next_amount(contract, (self.data.get("upcoming") or {}).get("planned") or [])
        fields = [Field("amount", f"Final amount (base {base}; the base removes the override)",
                        now or base)]  # fmt: skip
        self.form(f"Edit price · {contract.get('description')}", "price_override.set", fields,
                  {"contract": contract["id"]}, "Set price")  # fmt: skip

    def action_clear_price(self) -> None:
        contract = self._service()
        if contract is not None:
            self.act("price_override.clear", f"price of {contract.get('description')} cleared",
                     contract=contract["id"])  # fmt: skip

    def action_add_charge(self) -> None:
        """A one-time charge (seed 003 "Add Charge"), optionally linked to a service."""
        self._on_tab("charges")
        contracts = ((self.data.get("charges") or {}).get("contracts")) or []
        services = ", ".join(f"{c['id']} {c.get('description')}" for c in contracts)
        fields = [
            Field("description", "Description"),
            Field("amount", f"Amount ({(self.client or {}).get('currency') or ''})"),
            Field("contract", "Service (its ID)", placeholder=services, kind="integer"),
            Field(
                "date", "Schedule date", placeholder="YYYY-MM-DD; empty: next invoice", kind="date"
            ),
            Field("notes", "Internal notes"),
        ]
        self.form("Add charge", "charge.add", fields, {"client": self.client_id}, "Add",
)  # fmt: skip

    def action_cancel_charge(self) -> None:
        """Cancel the highlighted charge after asking; only a pending one can be."""
        self._on_tab("charges")
        key = self.highlighted("charges")
        charges = (self.data.get("charges") or {}).get("charges") or []
        charge = next((c for c in charges if str(c["id"]) == key), None)
        if charge is None:
            self.notify("No charge to cancel.", severity="warning")
            return
        if charge.get("status") != "pending":
            self.notify(f"Charge {charge['id']} is {charge.get('status')}: only a pending charge "
                        "can be cancelled.", severity="warning")  # fmt: skip
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.act("charge.cancel", f"charge {charge['id']} cancelled", id=charge["id"])

        what = f"{charge.get('description')!r} of {charge.get('amount')}"
        question = f"Cancel charge {charge['id']} {what}?"
        self.app.push_screen(
            ConfirmScreen(title="Cancel charge", question=question, confirm="Cancel charge"),
            answered,
        )

    def action_invoice_period(self) -> None:
        """Invoice this client for a period (R-INV-1): its document, statistics, or both."""
        self._on_tab("invoices")
        fields = [
            Field("from", "From", kind="date"),
            Field("to", "To", kind="date"),
            Field("date", "Issue date", placeholder="YYYY-MM-DD; empty: today", kind="date"),
            Field("document", "Document", True, kind="check"),
            Field("stats", "Statistics file", False, kind="check"),
        ]
        self.form("Create invoice for period", "invoice.period", fields,
                  {"client": self.client_id}, "Create")  # fmt: skip

    def action_invoice_amount(self) -> None:
        """Invoices for a gross amount (R-INV-5), ``count`` of them."""
        self._on_tab("invoices")
        fields = [
            Field("date", "Invoice date", self.today(), kind="date"),
            Field("amount", "Gross amount"),
            Field("count", "How many invoices", "1", kind="integer"),
            Field("description", "Description", "Prepayment"),
        ]
        self.form("Create invoice for amount", "invoice.amount", fields,
                  {"client": self.client_id}, "Create")  # fmt: skip

    def action_record_payment(self) -> None:
        """A manual payment (R-PAY-1): the highlighted invoice is its target if it is open."""
        target = ""
        if self.query_one(TabbedContent).active == "tab-invoices":
            key = self.highlighted("invoices")
            invoices = self.data.get("invoices") or ()
            invoice = next((i for i in invoices if str(i["id"]) == key), None)
            if invoice is not None and invoice.get("status") in ("open", "partial"):
                target = str(invoice["number"])
        currency = (self.client or {}).get("currency") or ""
        fields = [
            Field("amount", f"Amount ({currency})"),
            Field("invoice", "Apply to invoice (number; empty: oldest open first)", target),
            Field("reference", "Reference", placeholder="bank reference"),
            Field("notes", "Notes"),
        ]
        self.form("Record payment", "payment.record", fields, {"client": self.client_id},
                  "Record")  # fmt: skip

    def form(
        self,
        title: str,
        method: str,
        fields: list[Field],
        fixed: dict[str, Any],
        submit: str,
    ) -> None:
        """Ask the daemon to ``method`` with what is typed; its refusals under the fields."""

        def done(answer: Any) -> None:
            if answer is not None:
                self.notify(_done(method, answer), title=self.sub_title)
                self.load(*SECTIONS)  # the events do too, but not for a stats-only period

        name = (self.client or {}).get("name") or f"client {self.client_id}"
        form = FormScreen(daemon=self.daemon, title=f"{title} · {name}",
                         method=method, fields=fields, fixed=fixed, submit=submit)  # fmt: skip
        self.app.push_screen(form, done)

    def act(self, method: str, done: str, **params: Any) -> None:
        """Call ``method`` in a worker; ``done`` is notified once it succeeded."""

        def call() -> None:
            if self.daemon.request(self, method, **params) is not None:
                self.app.call_from_thread(self.notify, done, title=self.sub_title)

        self.run_worker(call, thread=True, group="client-action")


def _done(method: str, answer: Any) -> str:
    """What a successful form call made, in a few words."""
    if isinstance(answer, list):
        return f"{len(answer)} invoice(s) issued: " + ", ".join(str(i["number"]) for i in answer)
    if isinstance(answer, dict) and "statistics_csv" in answer:
        return "statistics file made"
    if isinstance(answer, dict) and answer.get("number"):
        return f"{method}: {answer['number']}"
    return f"{method}: done"


def _cycle(contract: dict[str, Any]) -> str:
    interval = int(contract.get("interval") or 1)
    cycle = str(contract.get("cycle") or "")
    return cycle if interval == 1 else f"{interval} {cycle}s"


def _base(contract: dict[str, Any]) -> str:
    """The service's amount before any override: quantity × unit price."""
    price = Decimal(str(contract.get("unit_price") or 0))
    return str((Decimal(str(contract.get("quantity") or 1)) * price).quantize(price))


def _period(invoice: dict[str, Any]) -> str:
    start, end = invoice.get("period_start"), invoice.get("period_end")
    return f"{start} – {end}" if start else ""


def _numbers(invoices: list[dict[str, Any]]) -> dict[int, str]:
    return {i["id"]: str(i["number"]) for i in invoices}
