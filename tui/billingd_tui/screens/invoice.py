"""One invoice: its header, lines and totals."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.align import Align
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from billingd_tui.connection import Daemon
from billingd_tui.messages import InvoiceLoaded


def _right(value: Any) -> Text:
    return Text(str(value if value is not None else ""), justify="right")


def _summary(invoice: dict[str, Any], client_name: str | None) -> Text:
    """Number, status and dates, two lines."""
    period = (
        f"{invoice['period_start']} – {invoice['period_end']}"
        if invoice.get("period_start")
        else "—"
    )
    client = client_name or f"client {invoice.get('client_id')}"
    return Text.assemble(
        ("Invoice ", "dim"),
        (str(invoice["number"]), "bold"),
        "  ",
        (str(invoice["status"]), "reverse"),
        "  ",
        client,
        "\n",
        ("Issued ", "dim"),
        str(invoice.get("issue_date") or "—"),
        ("  Due ", "dim"),
        str(invoice.get("due_date") or "—"),
        ("  Period ", "dim"),
        period,
        ("  Origin ", "dim"),
        str(invoice.get("origin") or "—"),
    )


def _totals(invoice: dict[str, Any]) -> Align:
    """Subtotal, tax per rate, total and balance, right-aligned."""
    currency = invoice.get("currency", "")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", style="dim")
    grid.add_column(justify="right")
    grid.add_column()
    grid.add_row("Subtotal", invoice["subtotal"], currency)
    breakdown = invoice.get("tax_breakdown") or []
    if len(breakdown) > 1:
        for group in breakdown:
            grid.add_row(f"Tax {group['rate']}% on {group['net']}", group["tax"], currency)
    else:
        rate = f" {breakdown[0]['rate']}%" if breakdown else ""
        grid.add_row(f"Tax{rate}", invoice["tax"], currency)
    grid.add_row(Text("Total", style="bold"), Text(invoice["total"], style="bold"), currency)
    grid.add_row("Balance due", invoice["balance"], currency)
    return Align.right(grid)


class InvoiceScreen(Screen[None]):
    """An invoice's lines and totals, fetched with ``invoice.show``."""

    SUB_TITLE = "Invoice"
    AUTO_FOCUS = "#lines"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "back", "Back", id="invoice.back"),
        Binding("r", "refresh", "Refresh", id="invoice.refresh"),
    ]

    def __init__(
        self, *, daemon: Daemon, invoice: int | str, client_name: str | None = None
    ) -> None:
        super().__init__()
        self.daemon = daemon
        self.invoice_ref = invoice
        self.client_name = client_name
        self.invoice: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Loading invoice {self.invoice_ref}…", id="summary")
        yield DataTable(id="lines", cursor_type="row", zebra_stripes=True)
        yield Static(id="totals")
        yield Footer()

    def on_mount(self) -> None:
        lines = self.query_one("#lines", DataTable)
        lines.border_title = "Lines"
        lines.add_column("Description", key="description", width=max(12, self.size.width - 60))
        lines.add_column(_right("Qty"), key="quantity", width=7)
        lines.add_column("Unit", key="unit", width=5)
        lines.add_column(_right("Price"), key="unit_price", width=10)
        lines.add_column(_right("Net"), key="net", width=10)
        lines.add_column(_right("Tax%"), key="tax_rate", width=5)
        lines.add_column(_right("Tax"), key="tax", width=8)
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_invoice()

    def action_back(self) -> None:
        self.dismiss()

    @work(thread=True, exclusive=True)
    def load_invoice(self) -> None:
        invoice = self.daemon.request(self, "invoice.show", invoice=self.invoice_ref)
        if invoice is not None:
            self.post_message(InvoiceLoaded(invoice))

    def on_invoice_loaded(self, message: InvoiceLoaded) -> None:
        invoice = self.invoice = message.invoice
        self.sub_title = f"Invoice {invoice['number']}"
        self.query_one("#summary", Static).update(_summary(invoice, self.client_name))
        lines = self.query_one("#lines", DataTable)
        lines.clear()
        for line in invoice.get("lines") or []:
            lines.add_row(
                line.get("description") or "",
                _right(line.get("quantity")),
                line.get("unit") or "",
                _right(line.get("unit_price")),
                _right(line.get("net")),
                _right(line.get("tax_rate")),
                _right(line.get("tax")),
            )
        lines.border_subtitle = f"{lines.row_count} lines"
        self.query_one("#totals", Static).update(_totals(invoice))
