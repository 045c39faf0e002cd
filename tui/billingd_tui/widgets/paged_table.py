"""A DataTable filled one page at a time from the daemon."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from billingd_tui.format import inert


class PagedTable(DataTable):
    """Rows of one query, fetched a page at a time; asks for the next page at the end.

    The screen starts a query with :meth:`start_query`, fetches pages in a worker
    and hands them to :meth:`add_page`; pages of an older query are ignored.
    When the cursor reaches the last row and the daemon said there is more, the
    table posts :class:`PagedTable.MoreWanted`.
    """

    @dataclass
    class MoreWanted(Message):
        """The cursor reached the last loaded row; fetch the page at ``offset``."""

        table: PagedTable
        query: int
        offset: int

        @property
        def control(self) -> PagedTable:
            return self.table

    def __init__(
        self,
        *,
        label: str,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id, classes=classes)
        self.label = label
        self.query_id = 0
        self.loaded = 0
        self.more = False
        self.fetching = False

    def on_mount(self) -> None:
        self.note("")

    def start_query(self) -> int:
        """Forget the rows; return the number that this query's pages must carry."""
        self.clear()
        self.query_id += 1
        self.loaded = 0
        self.more = False
        self.fetching = True
        self.note("loading…")
        return self.query_id

    def add_page(
        self, query: int, offset: int, rows: Iterable[tuple[str, Sequence[str | Text]]], more: bool
    ) -> bool:
        """Append one page of ``(key, cells)`` rows; False if it belongs to another query."""
        if query != self.query_id or offset != self.loaded:
            return False
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self.loaded += 1
        self.more = more
        self.fetching = False
        self.note(f"{self.loaded}{'+' if more else ''}" if self.loaded else "none")
        return True

    def note(self, text: str) -> None:
        """Show ``text`` after the label in the border title."""
        self.border_title = Text(inert(f"{self.label} · {text}" if text else self.label))

    def abandon(self) -> None:
        """The current query failed; allow asking again."""
        self.fetching = False
        self.note("")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.more and not self.fetching and event.cursor_row >= self.row_count - 1:
            self.fetching = True
            self.note("loading more…")
            self.post_message(self.MoreWanted(self, self.query_id, self.loaded))
