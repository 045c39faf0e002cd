"""All invoices, paged from the daemon, filtered; mark some and send them at once."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from billingd.control.client import ConnectionFailed, RemoteError
from billingd_tui.connection import Daemon
from billingd_tui.format import cell
from billingd_tui.messages import RowsLoaded
from billingd_tui.screens.invoice import InvoiceScreen
from billingd_tui.screens.listing import ListScreen
from billingd_tui.widgets import PagedTable

FILTERS = (
    ("status", "status: open, paid…"),
    ("period", "period YYYY-MM"),
    ("enterprise", "enterprise"),
    ("client", "client name or id"),
)
"""The filter inputs: (``invoice.list`` parameter, placeholder)."""
ID_FILTERS = ("enterprise", "client")
"""Filters typed as an id or part of a name; ``invoice.list`` takes the id."""
MARK = "●"


def _client(invoice: dict[str, Any]) -> str:
    bill_to = invoice.get("bill_to") or {}
    return str(bill_to.get("name") or f"client {invoice.get('client_id')}")


def _dates(invoice: dict[str, Any]) -> tuple[Text, Text]:
    """Issue date and period, the columns shown in a wide terminal."""
    start, end = invoice.get("period_start"), invoice.get("period_end")
    return cell(invoice.get("issue_date")), cell(f"{start}–{end}" if start else "")


class InvoicesScreen(ListScreen):
    """Every invoice, newest first, with the filters of ``invoice.list``; bulk send."""

    SUB_TITLE = "Invoices"
    AUTO_FOCUS = "#invoices"
    FIT = (("number", "total", "balance"), "client")
    EVENTS = ("invoice.", "payment.", "credit_note.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="invoices.filter"),
        Binding("o", "toggle_overdue", "Overdue", id="invoices.overdue"),
        Binding("space", "mark", "Mark", id="invoices.mark"),
        Binding("s", "send_marked", "Send", id="invoices.send"),
        Binding("r", "refresh", "Refresh", id="invoices.refresh", show=False),
        Binding("escape", "leave_filter", "Back to list", id="invoices.leave_filter"),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("invoices: filter", "Filter by status, period, enterprise or client", "filter"),
        ("invoices: overdue only", "Show only overdue invoices, or all again", "toggle_overdue"),
        ("invoices: mark", "Mark the highlighted invoice for sending", "mark"),
        ("invoices: send marked", "Email the marked invoices (asks first)", "send_marked"),
        ("invoices: refresh", "Reload the invoices", "refresh"),
    )

    def __init__(self, *, daemon: Daemon, page_size: int = 100) -> None:
        super().__init__(daemon=daemon)
        self.page_size = page_size
        self.overdue = False
        self.marked: dict[int, str] = {}
        """The marked invoices: id -> number."""
        self.filters: dict[str, Any] = {}
        """The filters of the query shown, as typed (a client or enterprise by name)."""
        self._sending = False
        self._keep: str | None = None  # the invoice to keep the cursor on when reloaded

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filters"):
            for param, placeholder in FILTERS:
                yield Input(placeholder=placeholder, id=f"filter-{param}", compact=True)
        yield PagedTable(id="invoices", label="Invoices")
        yield Static(id="note")
        yield Footer()

    def setup(self) -> None:
        table = self.query_one(PagedTable)
        table.add_column(" ", key="mark", width=1)
        table.add_column("Number", key="number", width=6)
        table.add_column("Client", key="client", width=8)
        table.add_column("Status", key="status", width=7)
        if self.wide:
            table.add_column("Issued", key="issued", width=10)
            table.add_column("Period", key="period", width=21)
        table.add_column("Due", key="due", width=10)
        table.add_column(cell("Total", right=True), key="total", width=5)
        table.add_column(cell("Balance", right=True), key="balance", width=7)

    # -- reading ---------------------------------------------------------------

    def load(self) -> None:
        """Start the query for the filters typed."""
        typed: dict[str, Any] = {"overdue": True} if self.overdue else {}
        for param, _ in FILTERS:
            value = self.query_one(f"#filter-{param}", Input).value.strip()
            if value:
                typed[param] = value
        self.filters = typed
        self._keep = self.highlighted()
        table = self.query_one(PagedTable)
        table.label = "Invoices" + "".join(
            f" · {k} {'yes' if v is True else v}" for k, v in typed.items()
        )
        self.fetch(typed, table.start_query(), 0)

    @work(thread=True, exclusive=True, group="invoices")
    def fetch(self, typed: dict[str, Any], query: int, offset: int) -> None:
        """One page of ``invoice.list`` for the ``typed`` filters (names resolved to ids)."""
        filters = dict(typed)
        for param in ID_FILTERS:
            if param in filters:
                found = self._resolve(param, filters[param])
                if not isinstance(found, int):
                    if found:
                        self.app.call_from_thread(self.say, found, error=True)
                    self.app.call_from_thread(self.query_one(PagedTable).abandon)
                    return
                filters[param] = found
        invoices = self.daemon.request(
            self, "invoice.list", **filters, limit=self.page_size + 1, offset=offset
        )
        if invoices is None:
            self.app.call_from_thread(self.query_one(PagedTable).abandon)
        elif not get_current_worker().is_cancelled:
            more = len(invoices) > self.page_size
            self.post_message(RowsLoaded(query, offset, invoices[: self.page_size], more))

    def _resolve(self, param: str, text: str) -> int | str:
        """The id of the one client or enterprise that ``text`` names (its id, or part of
        its name); else why not ("" when the daemon refused, which it says itself)."""
        if text.isdigit():
            return int(text)
        if param == "client":
            found = self.daemon.request(self, "client.list", search=text, limit=2)
        else:
            enterprises = self.daemon.request(self, "enterprise.list")
            found = (
                None
                if enterprises is None
                else [e for e in enterprises if text.casefold() in str(e["name"]).casefold()]
            )
        if found is None:
            return ""
        if len(found) == 1:
            return int(found[0]["id"])
        if not found:
            return f"No {param} matches {text!r}."
        return f"More than one {param} matches {text!r}: type more of its name, or its id."

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        table = self.query_one(PagedTable)
        invoices = message.rows
        totals = [f"{i['total']} {i['currency']}" for i in invoices]
        rows = [
            (
                str(i["id"]),
                (
                    self._mark(i["id"]),
                    cell(i["number"]),
                    cell(_client(i)),
                    cell(i["status"]),
                    *(_dates(i) if self.wide else ()),
                    cell(i.get("due_date")),
                    cell(total, right=True),
                    cell(i["balance"], right=True),
                ),
            )
            for i, total in zip(invoices, totals, strict=True)
        ]
        if not table.add_page(message.query, message.offset, rows, message.more):
            return
        self.fit_table()
        keep, self._keep = self._keep, None
        if message.offset == 0 and keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))
        if not table.loaded:
            table.note("none match" if self.filters else "none yet")

    def on_paged_table_more_wanted(self, event: PagedTable.MoreWanted) -> None:
        self.fetch(self.filters, event.query, event.offset)

    # -- filters ---------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_filter":  # offered only while typing a filter
            return isinstance(self.focused, Input)
        if action in ("mark", "toggle_overdue"):  # keys typed into a filter are text
            return not isinstance(self.focused, Input)
        if action == "send_marked":
            return None if self._sending else not isinstance(self.focused, Input)
        return super().check_action(action, parameters)

    def action_filter(self) -> None:
        self.query_one("#filter-status", Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one(PagedTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.say("")
        self.load()
        self.query_one(PagedTable).focus()

    def action_toggle_overdue(self) -> None:
        self.overdue = not self.overdue
        self.load()

    # -- marking and sending ---------------------------------------------------

    def _mark(self, invoice_id: int) -> Text:
        return Text(MARK if invoice_id in self.marked else "", style="bold")

    def _highlighted(self) -> int | None:
        key = self.highlighted()
        return None if key is None else int(key)

    def action_mark(self) -> None:
        """Mark the highlighted invoice, or unmark it; the cursor moves on."""
        invoice_id = self._highlighted()
        if invoice_id is None:
            return
        table = self.query_one(PagedTable)
        if self.marked.pop(invoice_id, None) is None:
            self.marked[invoice_id] = str(table.get_cell(str(invoice_id), "number"))
        table.update_cell(str(invoice_id), "mark", self._mark(invoice_id))
        table.action_cursor_down()
        self.say(f"{len(self.marked)} marked: s sends them" if self.marked else "")

    def action_send_marked(self) -> None:
        """Email the marked invoices (the highlighted one when none is), after asking."""
        chosen = dict(self.marked)
        highlighted = self._highlighted()
        if not chosen and highlighted is not None:
            number = self.query_one(PagedTable).get_cell(str(highlighted), "number")
            chosen = {highlighted: str(number)}
        if not chosen:
            return
        numbers = ", ".join(list(chosen.values())[:5]) + (" …" if len(chosen) > 5 else "")
        what = f"{len(chosen)} invoices" if len(chosen) > 1 else "invoice"
        self.ask(
            "Send invoices",
            f"Email {what} {numbers} to their recipients?",
            "Send",
            lambda: self._start_sending(chosen),
        )

    def _start_sending(self, chosen: dict[int, str]) -> None:
        self._sending = True
        self.refresh_bindings()
        self.send(chosen)

    @work(thread=True, exclusive=True, group="send")
    def send(self, chosen: dict[int, str]) -> None:
        """``invoice.send`` each one in turn, saying how far it got and what was refused."""
        refused: list[str] = []
        for done, (invoice_id, number) in enumerate(chosen.items()):
            self.app.call_from_thread(self.say, f"Sending {done + 1}/{len(chosen)}: {number}…")
            try:
                self.daemon.call("invoice.send", invoice=invoice_id)
            except RemoteError as exc:
                refused.append(f"{number}: {exc.message}")
            except ConnectionFailed as exc:
                refused.append(f"{number}: {exc}")
        self.app.call_from_thread(self._sent, chosen, refused)

    def _sent(self, chosen: dict[int, str], refused: list[str]) -> None:
        self._sending = False
        self.refresh_bindings()
        for invoice_id in chosen:
            self.marked.pop(invoice_id, None)
        sent = len(chosen) - len(refused)
        text = f"Sent {sent} of {len(chosen)}" + (
            "; refused " + "; ".join(refused) if refused else "."
        )
        self.say(text, error=bool(refused))
        self.notify(text, title="Send invoices", severity="error" if refused else "information")
        self.load()

    # -- opening ---------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        table = self.query_one(PagedTable)
        name = str(table.get_cell(event.row_key.value, "client"))
        self.app.push_screen(
            InvoiceScreen(daemon=self.daemon, invoice=int(event.row_key.value), client_name=name)
        )
