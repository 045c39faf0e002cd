"""One invoice: its header, lines and totals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from rich.align import Align
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from billingd_tui.connection import Daemon
from billingd_tui.format import assemble, cell, inert
from billingd_tui.messages import (
    DaemonRefused,
    DocumentLoaded,
    Following,
    InvoiceLoaded,
    LedgerChanged,
)
from billingd_tui.screens.confirm import ConfirmScreen
from billingd_tui.screens.document import DocumentScreen, pdf_text
from billingd_tui.screens.form import Field, FormScreen
from billingd_tui.screens.workspace import WorkspaceScreen
from billingd_tui.widgets.money_columns import fit_money_columns

EVENTS = ("invoice.", "payment.", "credit_note.")
RELOAD_DELAY = 0.3  # seconds: a burst of events (a run, a payment's allocations) costs one read
STATE_STYLES = {"sent": "green", "failed": "bold red", "cancelled": "dim"}


def _deliveries(invoice: dict[str, Any]) -> Text:
    """Where the invoice went (R-DEL-3, R-DEL-4): each email and upload with its state;
    notices to plugins are left out."""
    parts: list[Any] = [("Document ", "dim"), str(invoice.get("document") or "—")]
    if invoice.get("dispute"):
        parts += [("  Disputed ", "bold yellow"), str(invoice["dispute"])]
    shown = [d for d in invoice.get("deliveries") or () if d.get("channel") != "notify"]
    for delivery in shown:
        to = ", ".join(delivery.get("recipients") or ()) or delivery.get("target") or ""
        state = str(delivery.get("state") or "")
        parts += ["\n", (f"{delivery.get('channel')} ", "dim"), to, "  "]
        parts.append((state, STATE_STYLES.get(state, "yellow")))
        if state != "sent" and delivery.get("last_error"):
            parts.append((f"  {delivery['last_error']}", "dim"))
    return assemble(*parts)


def _summary(invoice: dict[str, Any], client_name: str | None) -> Text:
    """Number, status and dates, two lines; then its document and deliveries."""
    period = (
        f"{invoice['period_start']} – {invoice['period_end']}"
        if invoice.get("period_start")
        else "—"
    )
    client = client_name or f"client {invoice.get('client_id')}"
    return assemble(
        ("Invoice ", "dim"),
        (str(invoice["number"]), "bold"),
        " ",
        (f" {invoice['status']} ", "reverse"),
        "  ",
        client,
        (f"  ({invoice.get('origin') or '?'})", "dim"),
        "\n",
        ("Issued ", "dim"),
        str(invoice.get("issue_date") or "—"),
        ("  Due ", "dim"),
        str(invoice.get("due_date") or "—"),
        ("  Period ", "dim"),
        period,
        "\n",
        _deliveries(invoice),
    )


def _totals(invoice: dict[str, Any]) -> Align:
    """Subtotal, tax per rate, total and balance, right-aligned."""
    currency = inert(invoice.get("currency"))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", style="dim")
    grid.add_column(justify="right")
    grid.add_column()

    def row(label: str, amount: Any, style: str = "") -> None:
        grid.add_row(Text(label, style=style), Text(inert(amount), style=style), Text(currency))

    row("Subtotal", invoice["subtotal"])
    breakdown = invoice.get("tax_breakdown") or []
    if len(breakdown) > 1:
        for group in breakdown:
            row(f"Tax {group['rate']}% on {group['net']}", group["tax"])
    else:
        row(f"Tax {breakdown[0]['rate']}%" if breakdown else "Tax", invoice["tax"])
    row("Total", invoice["total"], "bold")
    row("Balance due", invoice["balance"])
    return Align.right(grid)


class AddressForm(FormScreen):
    """The billing address form: its lines are sent as one text, as invoices store it."""

    def values(self) -> dict[str, Any]:
        values = super().values()
        if isinstance(values.get("address"), list):
            values["address"] = "\n".join(values["address"])
        return values


class InvoiceScreen(WorkspaceScreen):
    """An invoice's lines and totals, fetched with ``invoice.show``."""

    SUB_TITLE = "Invoice"
    AUTO_FOCUS = "#lines"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "back", "Back", id="invoice.back"),
        Binding("r", "refresh", "Refresh", id="invoice.refresh"),
        Binding("s", "send", "Send", id="invoice.send"),
        Binding("v", "void", "Void", id="invoice.void"),
        Binding("p", "record_payment", "Payment", id="invoice.payment"),
        Binding("c", "credit_note", "Credit note", id="invoice.credit_note"),
        Binding("t", "document", "Document", id="invoice.document"),
        Binding("i", "reissue", "Void & reissue", id="invoice.reissue"),
        Binding("e", "edit_address", "Address", id="invoice.edit_address"),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("invoice: refresh", "Reload this invoice", "refresh"),
        ("invoice: send", "Email it to its recipients (asks first)", "send"),
        ("invoice: void", "Void it, keeping its number (asks first)", "void"),
        ("payment: record", "Record a payment for this invoice", "record_payment"),
        ("credit note: issue", "Credit part of this invoice", "credit_note"),
        ("invoice: view document", "Its document (the PDF) as text", "document"),
        ("invoice: void & reissue", "Void it and issue its period anew (asks first)", "reissue"),
        ("invoice: edit address", "Change its billing address; re-renders it", "edit_address"),
        ("invoice: back", "Back to the clients", "back"),
    )
    ACTIONS: ClassVar[dict[str, tuple[str, str, str]]] = {
        # action -> (socket method, dialog title, confirm button)
        "send": ("invoice.send", "Send invoice", "Send"),
        "void": ("invoice.void", "Void invoice", "Void"),
        "reissue": ("invoice.reissue", "Void & reissue invoice", "Void & reissue"),
    }

    def __init__(
        self, *, daemon: Daemon, invoice: int | str, client_name: str | None = None
    ) -> None:
        super().__init__(daemon=daemon)
        self.invoice_ref = invoice
        self.client_name = client_name
        self.invoice: dict[str, Any] | None = None
        self._follower: Worker[None] | None = None
        self._reload_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(f"Loading invoice {self.invoice_ref}…"), id="summary")
        yield DataTable(id="lines", cursor_type="row", zebra_stripes=True)
        yield Static(id="totals")
        yield Footer()

    def on_mount(self) -> None:
        lines = self.query_one("#lines", DataTable)
        lines.border_title = "Lines"
        fixed = 8 + 9 + 10 + 4 + 8 + 2 * 6 + 2  # the other columns, cell padding, scrollbar
        lines.add_column("Description", key="description", width=max(16, self.size.width - fixed))
        lines.add_column(cell("Qty", right=True), key="quantity", width=8)
        lines.add_column(cell("Price", right=True), key="unit_price", width=9)
        lines.add_column(cell("Net", right=True), key="net", width=10)
        lines.add_column(cell("Tax%", right=True), key="tax_rate", width=4)
        lines.add_column(cell("Tax", right=True), key="tax", width=8)
        self.follow_events()  # Following, once subscribed, loads the invoice

    def action_refresh(self) -> None:
        self.load_invoice()
        if self._follower is None or self._follower.is_finished:
            self.follow_events()  # lost with a daemon restart

    # -- live: payments, credit notes, a void or an edit made elsewhere show at once --

    def follow_events(self) -> None:
        self._follower = self.run_worker(
            lambda: self.daemon.follow(self, EVENTS), thread=True, exclusive=True, group="follow"
        )

    def on_following(self, message: Following) -> None:
        self.load_invoice()

    def on_ledger_changed(self, message: LedgerChanged) -> None:
        if self._reload_timer is None:
            self._reload_timer = self.set_timer(RELOAD_DELAY, self._reload)

    def _reload(self) -> None:
        self._reload_timer = None
        self.load_invoice()

    def action_back(self) -> None:
        self.dismiss()

    def unavailable(self, action: str) -> str | None:
        """Why ``action`` cannot be taken on this invoice as shown, or None when its rule
        allows it (what the TUI cannot see, e.g. allocations, the daemon still refuses)."""
        invoice = self.invoice
        if invoice is None:
            return "the invoice is still loading"
        status, number = invoice["status"], invoice["number"]
        if action in ("void", "reissue") and status in ("void", "draft"):
            return (
                f"invoice {number} is void already (R-INV-8)"
                if status == "void"
                else "a draft has no number to void; approve it or edit it (R-INV-8)"
            )
        if action == "send":
            if status in ("void", "draft"):
                return f"a {status} invoice cannot be sent (R-INV-10)"
            if not (invoice.get("bill_to") or {}).get("email"):
                return "the client has no billing email (R-INV-10)"
        if action == "credit_note":
            if status in ("void", "draft"):
                return f"a {status} invoice cannot be credited (R-CN-1)"
            if Decimal(str(invoice["balance"])) <= 0:
                return f"invoice {number} has no balance left to credit (R-CN-1)"
        if action == "edit_address" and status == "void":
            return f"invoice {number} is void: its address stays as issued (R-INV-12)"
        return None

    def allowed(self, action: str) -> bool:
        """True if ``action``'s rule allows it; otherwise the reason is shown."""
        reason = self.unavailable(action)
        if reason is not None:
            self.notify(reason, title=f"Invoice {self._number()}", severity="warning")
        return reason is None

    def action_send(self) -> None:
        """Email the invoice to its recipients (R-INV-10), after asking."""
        if not self.allowed("send"):
            return
        recipients = (self.invoice or {}).get("bill_to", {}).get("email") or "its recipients"
        self._ask("send", f"Email invoice {self._number()} to {recipients}?")

    def action_void(self) -> None:
        """Void the invoice (R-INV-8), after asking; the daemon refuses when a rule does."""
        if not self.allowed("void"):
            return
        self._ask(
            "void", f"Void invoice {self._number()}? It keeps its number; this cannot be undone."
        )

    def action_record_payment(self) -> None:
        """Record a manual payment for this invoice (R-PAY-1, R-PAY-2)."""
        invoice = self.invoice or {}
        fields = [
            Field("amount", "Amount", str(invoice.get("balance") or "")),
            Field("reference", "Reference", placeholder="bank reference"),
            Field("notes", "Notes"),
        ]
        fixed = {"client": invoice.get("client_id"), "invoice": invoice.get("id")}
        self._form("Record payment", "payment.record", fields, fixed, "Record")

    def action_credit_note(self) -> None:
        """Issue a credit note against this invoice (R-CN-1)."""
        if not self.allowed("credit_note"):
            return
        fields = [Field("amount", "Amount"), Field("reason", "Reason")]
        fixed = {"invoice": (self.invoice or {}).get("id", self.invoice_ref)}
        self._form("Issue credit note", "credit_note.issue", fields, fixed, "Issue")

    def action_reissue(self) -> None:
        """Void the invoice and issue its period again from current data (R-INV-9)."""
        if self.allowed("reissue"):
            self._ask(
                "reissue",
                f"Void invoice {self._number()} and issue a new invoice for its period "
                "from current data? The void cannot be undone.",
            )

    def action_edit_address(self) -> None:
        """The billing address on this invoice (R-INV-12): its document is rendered again."""
        if not self.allowed("edit_address"):
            return
        address = str(((self.invoice or {}).get("bill_to") or {}).get("address") or "")
        fields = [Field("address", "Address", address.splitlines(), kind="lines")]
        fixed = {"invoice": (self.invoice or {}).get("id", self.invoice_ref)}
        self._form("Edit address", "invoice.edit_address", fields, fixed, "Save", AddressForm)

    def action_document(self) -> None:
        """The invoice's document as text."""
        self.notify("Reading the document…", title=self._number(), timeout=2)
        self.load_document()

    @work(thread=True, exclusive=True, group="document")
    def load_document(self) -> None:
        document = self.daemon.request(self, "invoice.pdf", invoice=self.invoice_ref, wait=10)
        if document is not None:
            self.post_message(DocumentLoaded(pdf_text(document)))

    def on_document_loaded(self, message: DocumentLoaded) -> None:
        self.app.push_screen(DocumentScreen(title=f"Invoice {self._number()}", text=message.text))

    def _form(
        self,
        title: str,
        method: str,
        fields: list[Field],
        fixed: dict[str, Any],
        submit: str,
        form_class: type[FormScreen] = FormScreen,
    ) -> None:
        def done(answer: Any) -> None:
            if answer is not None:
                self.notify(f"{method}: done", title=self._number())
                self.action_refresh()

        form = form_class(
            daemon=self.daemon, title=f"{title} · {self._number()}",
            method=method, fields=fields, fixed=fixed, submit=submit,
        )  # fmt: skip
        self.app.push_screen(form, done)

    def _number(self) -> str:
        return str((self.invoice or {}).get("number") or self.invoice_ref)

    def _ask(self, action: str, question: str) -> None:
        _, title, confirm = self.ACTIONS[action]

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(action)

        self.app.push_screen(
            ConfirmScreen(title=title, question=question, confirm=confirm), answered
        )

    @work(thread=True, group="invoice-action")
    def act(self, action: str) -> None:
        method = self.ACTIONS[action][0]
        if self.daemon.request(self, method, invoice=self.invoice_ref) is not None:
            self.app.call_from_thread(self.app.notify, f"{method}: done", title=self._number())
            self.app.call_from_thread(self.action_refresh)

    @work(thread=True, exclusive=True)
    def load_invoice(self) -> None:
        invoice = self.daemon.request(self, "invoice.show", invoice=self.invoice_ref)
        if invoice is not None:
            self.post_message(InvoiceLoaded(invoice))

    def on_invoice_loaded(self, message: InvoiceLoaded) -> None:
        invoice = self.invoice = message.invoice
        self.sub_title = inert(f"Invoice {invoice['number']}")
        self.query_one("#summary", Static).update(_summary(invoice, self.client_name))
        lines = self.query_one("#lines", DataTable)
        lines.clear()
        for line in invoice.get("lines") or []:
            quantity = f"{line.get('quantity')} {line.get('unit') or ''}".strip()
            lines.add_row(
                Text(inert(line.get("description"))),  # wraps: the row grows
                cell(quantity, right=True),
                cell(line.get("unit_price"), right=True),
                cell(line.get("net"), right=True),
                cell(line.get("tax_rate"), right=True),
                cell(line.get("tax"), right=True),
                height=None,
            )
        lines.border_title = f"Lines · {lines.row_count}"
        fit_money_columns(lines, ("quantity", "unit_price", "net", "tax"), "description")
        self.query_one("#totals", Static).update(_totals(invoice))

    def on_daemon_refused(self, message: DaemonRefused) -> None:
        # The app shows the notification too (the message bubbles on).
        text = Text(inert(f"Invoice {self.invoice_ref}: {message.message}"), style="bold")
        self.query_one("#summary", Static).update(text)
