"""The parked queue (R-RUN-14): clients the scheduler will not bill until released."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from billingd_tui.format import cell
from billingd_tui.messages import RowsLoaded, RunFinished
from billingd_tui.run_view import instant
from billingd_tui.screens.listing import ListScreen


class ParkedScreen(ListScreen):
    """Parked clients with the reason; release one (asks first). Runs park clients, so
    a finished run reloads the list, as does a release made elsewhere."""

    SUB_TITLE = "Parked clients"
    AUTO_FOCUS = "#parked"
    FIT = (("id",), "reason")
    EVENTS = ("run.finished", "client.released")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "release", "Release", id="parked.release"),
        Binding("r", "refresh", "Refresh", id="parked.refresh", show=False),
        Binding("escape", "back", "Back", id="parked.back"),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("parked: release", "Bill the highlighted client again (asks first)", "release"),
        ("parked: refresh", "Reload the parked clients", "refresh"),
        ("parked: back", "Back to the runs", "back"),
    )

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="parked", cursor_type="row", zebra_stripes=True)
        yield Static(id="note")
        yield Footer()

    def setup(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(cell("ID", right=True), key="id", width=2)
        table.add_column("Client", key="client", width=16)
        table.add_column("Parked", key="parked_at", width=16)
        table.add_column("Reason", key="reason", width=6)

    def load(self) -> None:
        self.fetch()

    @work(thread=True, exclusive=True, group="parked")
    def fetch(self) -> None:
        parked = self.daemon.request(self, "parked.list")
        if parked is not None:
            self.post_message(RowsLoaded(0, 0, parked, False))

    def on_run_finished(self, message: RunFinished) -> None:
        self._stale()

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        table = self.query_one(DataTable)
        parked = message.rows
        rows = [
            (
                str(p["client_id"]),
                (
                    cell(p["client_id"], right=True),
                    cell(p.get("client")),
                    cell(instant(p.get("parked_at"))),
                    cell(p.get("reason")),
                ),
            )
            for p in parked
        ]
        self.refill(table, rows)
        table.border_title = f"Parked clients · {len(rows) or 'none'}"

    def action_release(self) -> None:
        """Release the highlighted client, after asking: the next run bills it."""
        key = self.highlighted()
        if key is None:
            return
        name = self.query_one(DataTable).get_cell(key, "client")
        self.ask(
            "Release client",
            f"Release {name} (client {key})? The next run bills everything due for it, "
            "however many invoices that makes.",
            "Release",
            lambda: self.release(int(key)),
        )

    def release(self, client_id: int) -> None:
        """``parked.release`` the client: the daemon refuses one that is not parked."""
        self.act("parked.release", client=client_id)

    def done_text(self, method: str, answer: Any) -> str:
        return f"Client {answer['client_id']} released: the next run bills it."
