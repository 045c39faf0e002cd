"""Dunning: overdue invoices, where each stands in its reminder plan; pause and resume."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from billingd_tui.connection import Daemon
from billingd_tui.format import assemble, cell
from billingd_tui.messages import DetailLoaded, RowsLoaded
from billingd_tui.screens.listing import ListScreen

SHOWN = 500
"""Overdue invoices read at most (``dunning.list`` has no paging); oldest due first."""


def _next(state: dict[str, Any]) -> str:
    """``2 Final notice on 2027-01-05``, or why nothing comes next."""
    if state.get("paused"):
        return "paused"
    if state.get("next_step_name"):
        return f"{state['next_step']} {state['next_step_name']} on {state['next_step_date']}"
    return str(state.get("state") or "").replace("_", " ")


def _state(state: dict[str, Any]) -> Text:
    """The highlighted invoice: its figures, dispute, what comes next, the notices sent."""
    parts: list[Any] = [
        (f"Invoice {state['number']} ", "bold"),
        f"client {state.get('client_id')}  due {state.get('due_date')}, "
        f"{state.get('days_overdue')} days overdue  ",
        (f"{state.get('balance')} {state.get('currency')}", "bold"),
        "\n",
        ("State ", "dim"),
        str(state.get("state") or "").replace("_", " "),
        ("  next ", "dim"),
        _next(state),
    ]
    if state.get("disputed"):
        parts += ["\n", ("Disputed ", "bold yellow"), str(state.get("dispute") or "")]
    for notice in state.get("notices") or ():
        charges = f"fee {notice.get('fee')}, interest {notice.get('interest')}"
        parts += [
            "\n",
            (f"Sent {notice.get('step')} {notice.get('name')} ", "dim"),
            f"on {notice.get('notice_date')}: {charges}",
        ]
    if not state.get("notices"):
        parts += ["\n", ("No reminder sent yet.", "dim")]
    return assemble(*parts)


class DunningScreen(ListScreen):
    """Overdue invoices with their dunning state; the highlighted one's reminders."""

    SUB_TITLE = "Dunning"
    AUTO_FOCUS = "#dunning"
    FIT = (("number", "balance"), "next")
    EVENTS = ("dunning.", "reminder.", "invoice.", "payment.", "credit_note.")
    DETAIL = ("dunning.show", "invoice")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "toggle_pause", "Pause/resume", id="dunning.toggle_pause"),
        Binding("r", "refresh", "Refresh", id="dunning.refresh", show=False),
        Binding("escape", "back", "Back", id="dunning.back", show=False),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("dunning: pause", "Send no more reminders for the highlighted invoice", "pause"),
        ("dunning: resume", "Resume reminders for the highlighted invoice", "resume"),
        ("dunning: open invoice", "The highlighted invoice (Enter)", "open_invoice"),
        ("dunning: refresh", "Reload the overdue invoices", "refresh"),
    )

    def __init__(self, *, daemon: Daemon) -> None:
        super().__init__(daemon=daemon)
        self.states: dict[str, dict[str, Any]] = {}
        """The dunning state of each invoice shown, by row key."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="dunning", cursor_type="row", zebra_stripes=True)
        yield Static(id="detail")
        yield Static(id="note")
        yield Footer()

    def setup(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Number", key="number", width=6)
        table.add_column("Due", key="due", width=10)
        table.add_column(cell("Days", right=True), key="days", width=4)
        table.add_column(cell("Balance", right=True), key="balance", width=7)
        table.add_column("Next reminder", key="next", width=13)
        self.query_one("#detail", Static).border_title = "Reminders"

    def load(self) -> None:
        self.fetch()

    @work(thread=True, exclusive=True, group="dunning")
    def fetch(self) -> None:
        states = self.daemon.request(self, "dunning.list", limit=SHOWN)
        if states is not None and not get_current_worker().is_cancelled:
            self.post_message(RowsLoaded(0, 0, states, len(states) >= SHOWN))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        table = self.query_one(DataTable)
        states = message.rows
        self.states = {str(s["invoice_id"]): s for s in states}
        balances = [f"{s['balance']} {s['currency']}" for s in states]
        rows = [
            (
                str(s["invoice_id"]),
                (
                    cell(s["number"]),
                    cell(s.get("due_date")),
                    cell(s.get("days_overdue"), right=True),
                    cell(balance, right=True),
                    cell(_next(s)),
                ),
            )
            for s, balance in zip(states, balances, strict=True)
        ]
        self.refill(table, rows)
        count = f"{len(rows)}{'+' if message.more else ''}" if rows else "none"
        table.border_title = f"Overdue invoices · {count}"
        self.refresh_bindings()

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        if str(message.item.get("invoice_id")) == self.highlighted():
            self.states[str(message.item["invoice_id"])] = message.item
            self.query_one("#detail", Static).update(_state(message.item))
            self.refresh_bindings()

    def invoice_of(self, key: str) -> int | None:
        return int(key)  # the rows are the invoices

    # -- actions ---------------------------------------------------------------

    def _paused(self) -> bool | None:
        """Whether the highlighted invoice's reminders are paused (None: no invoice)."""
        state = self.states.get(self.highlighted() or "")
        return None if state is None else bool(state.get("paused"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("pause", "resume"):
            return self._paused() is (action == "resume")
        return super().check_action(action, parameters)

    def action_toggle_pause(self) -> None:
        paused = self._paused()
        if paused is not None:
            self.set_paused(not paused)

    def action_pause(self) -> None:
        self.set_paused(True)

    def action_resume(self) -> None:
        self.set_paused(False)

    def set_paused(self, paused: bool) -> None:
        """``dunning.pause`` or ``dunning.resume`` the highlighted invoice."""
        key = self.highlighted()
        if key is not None:
            self.act("dunning.pause" if paused else "dunning.resume", invoice=int(key))

    def done_text(self, method: str, answer: Any) -> str:
        verb = "paused" if answer.get("paused") else "resumed"
        return f"Reminders for invoice {answer['number']} {verb}."
