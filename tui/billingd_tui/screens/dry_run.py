"""A dry run: the invoices a run would issue now, per client, nothing written."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from billingd_tui.format import cell
from billingd_tui.messages import RowsLoaded
from billingd_tui.screens.listing import ListScreen


def _client(invoice: dict[str, Any]) -> str:
    bill_to = invoice.get("bill_to") or {}
    name = bill_to.get("name") or bill_to.get("company")
    return f"{name} ({invoice.get('client_id')})" if name else f"client {invoice.get('client_id')}"


def _period(invoice: dict[str, Any]) -> str:
    start, end = invoice.get("period_start"), invoice.get("period_end")
    return f"{start}–{end}" if start else ""


class DryRunScreen(ListScreen):
    """``run.start`` with ``dry_run``: what billing now would issue, client by client."""

    SUB_TITLE = "Dry run"
    AUTO_FOCUS = "#planned"
    FIT = (("total",), "client")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Again", id="dry_run.refresh"),
        Binding("escape", "back", "Back", id="dry_run.back"),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("dry run: again", "Calculate the dry run again", "refresh"),
        ("dry run: back", "Back to the runs", "back"),
    )

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="planned", cursor_type="row", zebra_stripes=True)
        yield Static(id="note")
        yield Footer()

    def setup(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Client", key="client", width=6)
        table.add_column("Period", key="period", width=21)
        table.add_column("Issue date", key="issue_date", width=10)
        table.add_column(cell("Total", right=True), key="total", width=5)

    def load(self) -> None:
        self.say("Calculating what a run would issue now…")
        self.fetch()

    @work(thread=True, exclusive=True, group="dry-run")
    def fetch(self) -> None:
        planned = self.daemon.request(self, "run.start", dry_run=True)
        if planned is not None:
            self.post_message(RowsLoaded(0, 0, [planned], False))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        [planned] = message.rows
        invoices = planned.get("invoices") or []
        table = self.query_one(DataTable)
        totals = [f"{i['total']} {i['currency']}" for i in invoices]
        rows = [
            (
                str(n),
                (
                    cell(_client(i)),
                    cell(_period(i)),
                    cell(i.get("issue_date")),
                    cell(total, right=True),
                ),
            )
            for n, (i, total) in enumerate(zip(invoices, totals, strict=True))
        ]
        self.refill(table, rows)
        clients = len({i.get("client_id") for i in invoices})
        table.border_title = f"Would issue · {len(rows)} invoices · {clients} clients"
        self.say(f"As of {planned.get('as_of')}: nothing was written; s on the runs starts it.")
