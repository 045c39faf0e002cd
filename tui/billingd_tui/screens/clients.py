"""Clients: search as you type, paged from the daemon, with the highlighted client's invoices."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input
from textual.worker import get_current_worker

from billingd_tui.connection import Daemon
from billingd_tui.format import cell
from billingd_tui.messages import ClientsLoaded, InvoicesLoaded, StatusLoaded
from billingd_tui.screens.billgroups import BillGroupsScreen
from billingd_tui.screens.client import ClientScreen
from billingd_tui.screens.invoice import InvoiceScreen
from billingd_tui.screens.settings import edit_billing_settings
from billingd_tui.screens.workspace import WorkspaceScreen
from billingd_tui.widgets import PagedTable, StatusBar
from billingd_tui.widgets.money_columns import fit_money_columns

SEARCH_DELAY = 0.02  # seconds of quiet typing before the daemon is asked (bench/tui.py)
HIGHLIGHT_DELAY = 0.1  # seconds on a client row before its invoices are fetched


class ClientsScreen(WorkspaceScreen):
    """The clients list with a search box, and the invoices of the highlighted client."""

    SUB_TITLE = "Clients"
    AUTO_FOCUS = "#clients"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", id="clients.search"),
        Binding("r", "refresh", "Refresh", id="clients.refresh"),
        Binding("e", "edit_client", "Edit", id="clients.edit"),
        Binding("B", "bill_groups", "Bill groups", id="clients.bill_groups"),  # b: the outbox
        Binding("escape", "leave_search", "Back to list", id="clients.leave_search"),
    ]

    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("clients: refresh", "Reload clients and invoices from the daemon", "refresh"),
        ("client: open", "The highlighted client's billing workspace (Enter)", "open_client"),
        ("client: edit billing settings", "The highlighted client's settings", "edit_client"),
        ("client: bill groups", "The highlighted client's bill groups", "bill_groups"),
        ("clients: search", "Search clients by name, company or email", "focus_search"),
    )  # fmt: skip

    def __init__(self, *, daemon: Daemon, page_size: int = 100) -> None:
        super().__init__(daemon=daemon)
        self.page_size = page_size
        self.client_id: int | None = None
        self._keep_client: int | None = None
        self._search_timer: Timer | None = None
        self._highlight_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="/ search clients by name, company, email…", id="search", compact=True
        )
        yield PagedTable(id="clients", label="Clients")
        yield PagedTable(id="invoices", label="Invoices")
        yield StatusBar(id="status", socket_path=self.daemon.socket_path)
        yield Footer()

    def on_mount(self) -> None:
        clients = self.query_one("#clients", PagedTable)
        flexible = max(24, self.size.width - 32)  # the rest: cell padding, scrollbar
        clients.add_column("ID", key="id", width=5)
        clients.add_column("Name", key="name", width=flexible * 3 // 5)
        clients.add_column("Company", key="company", width=flexible - flexible * 3 // 5)
        clients.add_column("Cur", key="currency", width=3)
        clients.add_column("Status", key="status", width=9)
        invoices = self.query_one("#invoices", PagedTable)
        invoices.add_column("Number", key="number", width=min(24, max(8, self.size.width - 68)))
        invoices.add_column("Status", key="status", width=8)
        invoices.add_column("Issued", key="issued", width=10)
        invoices.add_column("Due", key="due", width=10)
        invoices.add_column(cell("Total", right=True), key="total", width=10)
        invoices.add_column(cell("Balance", right=True), key="balance", width=10)
        self.action_refresh()

    # -- actions ---------------------------------------------------------------

    def action_refresh(self) -> None:
        """Reload the status, the clients (keeping the highlighted one) and its invoices."""
        self._keep_client = self.client_id
        self.load_status()
        self.search_clients()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_search":  # offered only while typing in the search box
            return isinstance(self.focused, Input)
        return True

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_leave_search(self) -> None:
        self.query_one("#clients", PagedTable).focus()

    def action_edit_client(self) -> None:
        """The highlighted client's billing settings, checked by the daemon (seed 000)."""
        if self.client_id is not None:
            edit_billing_settings(
                self, self.daemon, self.client_id, lambda _: self.action_refresh()
            )

    def action_open_client(self) -> None:
        """The highlighted client's billing workspace (seed 003)."""
        if self.client_id is not None:
            self.app.push_screen(ClientScreen(daemon=self.daemon, client_id=self.client_id))

    def action_bill_groups(self) -> None:
        """The highlighted client's bill groups, to add and edit (seed 004)."""
        if self.client_id is not None:
            clients = self.query_one("#clients", PagedTable)
            key = str(self.client_id)
            name = str(clients.get_cell(key, "name")) if key in clients.rows else None
            groups = BillGroupsScreen(
                daemon=self.daemon, client_id=self.client_id, client_name=name
            )
            self.app.push_screen(groups)

    # -- clients ---------------------------------------------------------------

    def search_clients(self) -> None:
        """Start the clients query for the current search text."""
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        self.show_invoices(None)
        query = self.query_one("#clients", PagedTable).start_query()
        self.load_clients(self.query_one("#search", Input).value.strip(), query, 0)

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self.search_clients)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.search_clients()
        self.query_one("#clients", PagedTable).focus()

    @work(thread=True, exclusive=True, group="clients")
    def load_clients(self, search: str, query: int, offset: int) -> None:
        params: dict[str, Any] = {"limit": self.page_size + 1, "offset": offset}
        if search:
            params["search"] = search
        clients = self.daemon.request(self, "client.list", **params)
        if clients is None or get_current_worker().is_cancelled:
            return
        more = len(clients) > self.page_size
        self.post_message(ClientsLoaded(query, offset, clients[: self.page_size], more))

    def on_clients_loaded(self, message: ClientsLoaded) -> None:
        table = self.query_one("#clients", PagedTable)
        rows = [
            (
                str(c["id"]),
                (
                    cell(c["id"], right=True),
                    cell(c["name"]),
                    cell(c.get("company")),
                    cell(c.get("currency")),
                    cell(c.get("status")),
                ),
            )
            for c in message.clients
        ]
        if not table.add_page(message.query, message.offset, rows, message.more):
            return
        keep, self._keep_client = self._keep_client, None
        if message.offset == 0 and keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)))
        if message.offset == 0 and not rows:
            search = self.query_one("#search", Input).value.strip()
            table.note(f"none match {search!r}" if search else "none yet")

    # -- invoices of the highlighted client ------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "clients" or event.row_key.value is None:
            return
        client_id = int(event.row_key.value)
        if self._highlight_timer is not None:
            self._highlight_timer.stop()
        self._highlight_timer = self.set_timer(
            HIGHLIGHT_DELAY, lambda: self.show_invoices(client_id)
        )

    def show_invoices(self, client_id: int | None) -> None:
        """Show the invoices of ``client_id`` (None: of nobody)."""
        if self._highlight_timer is not None:
            self._highlight_timer.stop()
            self._highlight_timer = None
        if client_id == self.client_id and client_id is not None:
            return
        self.client_id = client_id
        table = self.query_one("#invoices", PagedTable)
        clients = self.query_one("#clients", PagedTable)
        key = str(client_id)
        name = str(clients.get_cell(key, "name")) if key in clients.rows else None
        table.label = f"Invoices of {name}" if name else "Invoices"
        query = table.start_query()
        if client_id is None:
            table.abandon()
            return
        self.load_invoices(client_id, query, 0)

    @work(thread=True, exclusive=True, group="invoices")
    def load_invoices(self, client_id: int, query: int, offset: int) -> None:
        invoices = self.daemon.request(
            self, "invoice.list", client=client_id, limit=self.page_size + 1, offset=offset
        )
        if invoices is None or get_current_worker().is_cancelled:
            return
        more = len(invoices) > self.page_size
        page = invoices[: self.page_size]
        self.post_message(InvoicesLoaded(client_id, query, offset, page, more))

    def on_invoices_loaded(self, message: InvoicesLoaded) -> None:
        if message.client_id != self.client_id:
            return
        table = self.query_one("#invoices", PagedTable)
        rows = [
            (
                str(i["id"]),
                (
                    cell(i["number"]),
                    cell(i["status"]),
                    cell(i.get("issue_date")),
                    cell(i.get("due_date")),
                    cell(f"{i['total']} {i['currency']}", right=True),
                    cell(i["balance"], right=True),
                ),
            )
            for i in message.invoices
        ]
        if table.add_page(message.query, message.offset, rows, message.more):
            fit_money_columns(table, ("total", "balance"), "number")

    # -- paging and opening ----------------------------------------------------

    def on_paged_table_more_wanted(self, event: PagedTable.MoreWanted) -> None:
        if event.table.id == "clients":
            search = self.query_one("#search", Input).value.strip()
            self.load_clients(search, event.query, event.offset)
        elif self.client_id is not None:
            self.load_invoices(self.client_id, event.query, event.offset)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        if event.data_table.id == "clients":
            self.show_invoices(int(event.row_key.value))
            self.action_open_client()
        else:
            clients = self.query_one("#clients", PagedTable)
            key = str(self.client_id)
            name = str(clients.get_cell(key, "name")) if key in clients.rows else None
            self.app.push_screen(
                InvoiceScreen(
                    daemon=self.daemon, invoice=int(event.row_key.value), client_name=name
                )
            )

    # -- daemon status ---------------------------------------------------------

    @work(thread=True, exclusive=True, group="status")
    def load_status(self) -> None:
        status = self.daemon.request(self, "status")
        if status is not None:
            self.post_message(StatusLoaded(status))

    def on_status_loaded(self, message: StatusLoaded) -> None:
        self.query_one(StatusBar).show_status(message.status)
