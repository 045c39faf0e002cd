"""The outbox: every email, upload and notice with its delivery state; retry or cancel one."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from billingd_tui.connection import Daemon
from billingd_tui.format import assemble, cell, inert
from billingd_tui.messages import DetailLoaded, RowsLoaded
from billingd_tui.run_view import instant
from billingd_tui.screens.invoice import STATE_STYLES
from billingd_tui.screens.listing import ListScreen

STATES = (None, "queued", "sending", "sent", "failed", "cancelled")
"""The state filter's steps (None: every state), as ``outbox.list`` takes them."""
SHOWN = 200
"""Messages read at most (``outbox.list`` has no paging); newest first."""


def _message(message: dict[str, Any]) -> Text:
    """The highlighted message: what, to whom, its state, why it waits, what it carries."""
    state = str(message.get("state") or "")
    parts: list[Any] = [
        (f"#{message['id']} {message.get('channel')} {message.get('kind')} ", "bold"),
        (state, STATE_STYLES.get(state, "yellow")),
        (f"  attempts {message.get('attempts')}", "dim"),
        "\n",
        ("To ", "dim"),
        str(message.get("to") or "—"),
    ]
    if message.get("subject"):
        parts += ["\n", ("Subject ", "dim"), str(message["subject"])]
    parts += ["\n", ("Created ", "dim"), instant(message.get("created_at")) or "—"]
    if message.get("sent_at"):
        parts += [("  sent ", "dim"), instant(message["sent_at"])]
    if message.get("next_attempt_at") and state != "sent":
        parts += [("  next attempt ", "dim"), instant(message["next_attempt_at"])]
    if message.get("last_error") and state != "sent":
        parts += ["\n", ("Last error ", "dim"), (str(message["last_error"]), "red")]
    payload = message.get("payload")
    if isinstance(payload, dict) and payload:
        parts += ["\n", ("Carries ", "dim"), ", ".join(sorted(payload))]
    return assemble(*parts)


def _wide_cells(message: dict[str, Any]) -> tuple[Text, Text]:
    """Subject and creation time, the columns shown in a wide terminal."""
    return cell(message.get("subject")), cell(instant(message.get("created_at")))


class OutboxScreen(ListScreen):
    """What the outbox holds, newest first, filtered by state; the highlighted message."""

    SUB_TITLE = "Outbox"
    AUTO_FOCUS = "#messages"
    FIT = (("id",), "to")
    EVENTS = ("outbox.",)
    DETAIL = ("outbox.show", "id")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "next_state", "State", id="outbox.state"),
        Binding("t", "retry", "Retry", id="outbox.retry"),
        Binding("x", "cancel_message", "Cancel msg", id="outbox.cancel"),
        Binding("r", "refresh", "Refresh", id="outbox.refresh", show=False),
        Binding("escape", "back", "Back", id="outbox.back", show=False),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("outbox: filter by state", "Show queued, sent, failed … messages in turn", "next_state"),
        ("outbox: retry", "Queue the highlighted failed or cancelled message again", "retry"),
        ("outbox: cancel", "Stop the highlighted waiting message (asks first)", "cancel_message"),
        ("outbox: open invoice", "The highlighted message's invoice (Enter)", "open_invoice"),
        ("outbox: refresh", "Reload the outbox", "refresh"),
    )

    def __init__(self, *, daemon: Daemon) -> None:
        super().__init__(daemon=daemon)
        self.state: str | None = None
        """The state shown (None: every state)."""
        self.invoices: dict[str, int | None] = {}
        """The invoice of each message shown (Enter opens it), by row key."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="messages", cursor_type="row", zebra_stripes=True)
        yield Static(id="detail")
        yield Static(id="note")
        yield Footer()

    def setup(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(cell("ID", right=True), key="id", width=4)
        table.add_column("Channel", key="channel", width=7)
        table.add_column("Kind", key="kind", width=8)
        table.add_column("To", key="to", width=8)
        if self.wide:
            table.add_column("Subject", key="subject", width=30)
            table.add_column("Created", key="created_at", width=16)
        table.add_column("State", key="state", width=9)
        table.add_column(cell("Tries", right=True), key="attempts", width=5)
        self.query_one("#detail", Static).border_title = "Message"

    def load(self) -> None:
        self.fetch(self.state)

    @work(thread=True, exclusive=True, group="outbox")
    def fetch(self, state: str | None) -> None:
        params = {"state": state} if state else {}
        messages = self.daemon.request(self, "outbox.list", limit=SHOWN + 1, **params)
        if messages is not None and not get_current_worker().is_cancelled:
            more = len(messages) > SHOWN
            self.post_message(RowsLoaded(0, 0, messages[:SHOWN], more))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        table = self.query_one(DataTable)
        messages = message.rows
        self.invoices = {str(m["id"]): m.get("invoice_id") for m in messages}
        rows = [
            (
                str(m["id"]),
                (
                    cell(m["id"], right=True),
                    cell(m.get("channel")),
                    cell(m.get("kind")),
                    cell(m.get("to")),
                    *(_wide_cells(m) if self.wide else ()),
                    Text(inert(m.get("state")), style=STATE_STYLES.get(str(m.get("state")), "")),
                    cell(m.get("attempts"), right=True),
                ),
            )
            for m in messages
        ]
        self.refill(table, rows)
        count = f"{len(rows)}{'+' if message.more else ''}" if rows else "none"
        table.border_title = f"Outbox · {self.state or 'all'} · {count}"

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        if str(message.item.get("id")) == self.highlighted():
            self.query_one("#detail", Static).update(_message(message.item))

    def invoice_of(self, key: str) -> int | None:
        return self.invoices.get(key)

    # -- actions ---------------------------------------------------------------

    def action_next_state(self) -> None:
        """Show the next state's messages (all, queued, sending, sent, failed, cancelled)."""
        self.state = STATES[(STATES.index(self.state) + 1) % len(STATES)]
        self.load()

    def action_retry(self) -> None:
        """Queue the highlighted message again, due now (the daemon says when it may not)."""
        key = self.highlighted()
        if key is not None:
            self.act("outbox.retry", id=int(key))

    def action_cancel_message(self) -> None:
        """Stop the highlighted message, after asking; a sent one stays sent."""
        key = self.highlighted()
        if key is None:
            return
        table = self.query_one(DataTable)
        to = table.get_cell(key, "to")
        self.ask(
            "Cancel message",
            f"Stop message #{key} to {to}? It is not sent unless retried.",
            "Stop it",
            lambda: self.act("outbox.cancel", id=int(key)),
        )

    def done_text(self, method: str, answer: Any) -> str:
        return f"Message #{answer['id']} is {answer['state']}."
