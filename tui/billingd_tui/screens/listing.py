"""What the list screens share (invoices, outbox, dunning, plugins, templates): a table
kept live by the daemon's events, a line saying what happened, and actions that ask first.

A list screen composes its widgets with a ``Static(id="note")`` line, declares its
columns in :meth:`ListScreen.setup` and reads the daemon in :meth:`ListScreen.load`.
Events named by ``EVENTS`` make it load again (a burst of them once), so changes made
elsewhere appear without a refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker

from billingd_tui.connection import Daemon
from billingd_tui.format import inert
from billingd_tui.messages import (
    ActionAnswered,
    DaemonRefused,
    DetailLoaded,
    Following,
    Happened,
    LedgerChanged,
)
from billingd_tui.screens.confirm import ConfirmScreen
from billingd_tui.screens.invoice import InvoiceScreen
from billingd_tui.screens.workspace import WorkspaceScreen
from billingd_tui.widgets.money_columns import fit_money_columns

STALE_DELAY = 0.2
"""Seconds of quiet after an event before the list is read again."""
DETAIL_DELAY = 0.1
"""Seconds on a row before its object is read."""
WIDE = 120
"""Terminal columns from which a list shows its extra columns (dates, subjects)."""


class ListScreen(WorkspaceScreen):
    """A main screen showing a list from the daemon, reloaded when its events come."""

    EVENTS: ClassVar[tuple[str, ...]] = ()
    """Event-name prefixes after which the list is read again (see ``Daemon.follow``)."""
    FIT: ClassVar[tuple[tuple[str, ...], str] | None] = None
    """``(columns, flexible)``: the columns sized to their widest cell (money, ids),
    and the text column given the rest of the width, after each load and resize."""
    DETAIL: ClassVar[tuple[str, str] | None] = None
    """``(method, id parameter)`` reading the highlighted row's object, posted to the
    screen as :class:`DetailLoaded` (the row keys are the ids)."""

    def __init__(self, *, daemon: Daemon) -> None:
        super().__init__(daemon=daemon)
        self.following = False
        """The subscription is in place (events will arrive)."""
        self._follower: Worker[None] | None = None
        self._stale_timer: Timer | None = None
        self._detail_timer: Timer | None = None
        self.wide = False
        """The terminal has :data:`WIDE` columns: :meth:`setup` may declare more."""

    def on_mount(self) -> None:
        self.wide = self.app.size.width >= WIDE
        self.setup()
        if self.EVENTS:
            self.follow()  # Following, once subscribed, loads the list
        else:
            self.load()

    def setup(self) -> None:
        """Declare the table's columns (the screen is mounted; again when the terminal
        becomes wide or narrow)."""

    def load(self) -> None:
        """Read what the screen shows from the daemon (in a thread worker)."""
        raise NotImplementedError

    def action_refresh(self) -> None:
        """Read the list again; subscribe again if the subscription was lost."""
        if self.EVENTS and (self._follower is None or self._follower.is_finished):
            self.follow()
        else:
            self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return len(self.app.screen_stack) > 1
        if action == "open_invoice":
            key = self.highlighted()
            return key is not None and self.invoice_of(key) is not None
        return True

    # -- the subscription ------------------------------------------------------

    def follow(self) -> None:
        self.following = False
        self._follower = self._follow_events()

    @work(thread=True, exclusive=True, group="follow")
    def _follow_events(self) -> None:
        self.daemon.follow(self, self.EVENTS)

    def on_following(self, message: Following) -> None:
        self.following = True
        self.load()

    def on_happened(self, message: Happened) -> None:
        self._stale()

    def on_ledger_changed(self, message: LedgerChanged) -> None:
        self._stale()

    def _stale(self) -> None:
        if self._stale_timer is not None:
            self._stale_timer.stop()
        self._stale_timer = self.set_timer(STALE_DELAY, self.load)

    # -- the table -------------------------------------------------------------

    def highlighted(self, table: DataTable | None = None) -> str | None:
        """The key of the row under the cursor of ``table`` (default: the screen's first)."""
        table = table or self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def refill(self, table: DataTable, rows: Iterable[tuple[str, Sequence[Text]]]) -> None:
        """Show ``rows`` (key, cells) instead of the table's, the cursor kept on its row."""
        keep = self.highlighted(table)
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))
        for detail in self.query("#detail"):  # the highlighted row's: none without rows
            detail.display = table.row_count > 0
        self.fit_table()
        self.show_detail()

    def fit_table(self) -> None:
        """Size the table's columns as ``FIT`` says."""
        table = self.query_one(DataTable)
        if self.FIT is not None and table.columns:
            fit_money_columns(table, *self.FIT)

    def on_resize(self, event: Resize) -> None:
        wide = self.app.size.width >= WIDE
        if wide != self.wide:  # columns to add or drop: declare them again, read again
            self.wide = wide
            self.query_one(DataTable).clear(columns=True)
            self.setup()
            self.load()
        self.call_after_refresh(self.fit_table)  # once the table has its new size

    def invoice_of(self, key: str) -> int | None:
        """The invoice that Enter on row ``key`` opens (None: Enter opens none)."""
        return None

    def action_open_invoice(self) -> None:
        """Open the highlighted row's invoice (Enter)."""
        key = self.highlighted()
        invoice = None if key is None else self.invoice_of(key)
        if invoice is not None:
            self.app.push_screen(InvoiceScreen(daemon=self.daemon, invoice=invoice))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_invoice()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY, self.show_detail)

    def show_detail(self) -> None:
        """Read the highlighted row's object with the ``DETAIL`` method, if there is one."""
        key = self.highlighted()
        if self.DETAIL is not None and key is not None:
            self.load_detail(key)

    @work(thread=True, exclusive=True, group="detail")
    def load_detail(self, key: str) -> None:
        assert self.DETAIL is not None
        method, param = self.DETAIL
        item = self.daemon.request(self, method, **{param: int(key)})
        if item is not None:
            self.post_message(DetailLoaded(item))

    # -- saying what happened --------------------------------------------------

    def say(self, text: str, *, error: bool = False) -> None:
        """Show ``text`` on the screen's note line (a refusal in the error colour)."""
        note = self.query_one("#note", Static)
        note.set_class(error, "error")
        note.update(Text(inert(text)))

    def on_daemon_refused(self, message: DaemonRefused) -> None:
        # The app shows a notification too (the message bubbles on).
        self.say(f"{message.method} refused: {message.message}", error=True)

    # -- actions ---------------------------------------------------------------

    def ask(self, title: str, question: str | Text, confirm: str, then: Callable[[], Any]) -> None:
        """Ask ``question`` (Cancel focused); call ``then`` only on yes."""

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(
            ConfirmScreen(title=title, question=question, confirm=confirm), answered
        )

    @work(thread=True, group="act")
    def act(self, method: str, **params: Any) -> None:
        """Call ``method``; :meth:`on_action_answered` gets its answer (None: refused)."""
        self.post_message(ActionAnswered(method, self.daemon.request(self, method, **params)))

    def on_action_answered(self, message: ActionAnswered) -> None:
        if message.answer is not None:
            self.say(self.done_text(message.method, message.answer))
            self.load()

    def done_text(self, method: str, answer: Any) -> str:
        """What to say once ``method`` succeeded with ``answer``."""
        return f"{method}: done"
