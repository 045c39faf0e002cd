"""Recent billing runs, newest first; a running run's row follows its progress events."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable

from billingd_tui.format import cell
from billingd_tui.run_view import Run, instant, merge_run

FIXED = 4 + 10 + 8 + 11 + 9 + 5 + 4
"""Widths of every column but "Started"."""


class RunsTable(DataTable):
    """One row per run; :meth:`show_runs` fills it, :meth:`update_run` patches one row.

    ``runs`` keeps what is known of each shown run, merged so that an older reply
    never moves a live row backwards (see :func:`~billingd_tui.run_view.merge_run`).
    """

    def __init__(
        self,
        *,
        label: str = "Runs",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id, classes=classes)
        self.label = label
        self.runs: dict[int, Run] = {}
        self._unlisted: dict[int, Run] = {}  # news of runs not shown yet, for show_runs
        self._short_dates = False

    def on_mount(self) -> None:
        self.border_title = Text(f"{self.label} · loading…")
        # cell padding (2 per column) and the scrollbar take the rest of the width
        started = max(11, self.app.size.width - FIXED - 2 * 8 - 2)
        self._short_dates = started < 16
        self.add_column("Run", key="id", width=4)
        self.add_column("As of", key="as_of", width=10)
        self.add_column("Trigger", key="trigger", width=8)
        self.add_column("Status", key="status", width=11)
        self.add_column(cell("Progress", right=True), key="progress", width=9)
        self.add_column(cell("Inv", right=True), key="invoices", width=5)
        self.add_column(cell("Fail", right=True), key="failures", width=4)
        self.add_column("Started", key="started_at", width=min(started, 16))

    @property
    def highlighted_run(self) -> int | None:
        """The id of the run under the cursor."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def show_runs(self, runs: Iterable[Run], *, select: int | None = None) -> None:
        """Show ``runs`` (newest first), keeping the cursor on its run, or on ``select``."""
        keep = select if select is not None else self.highlighted_run
        known, self.runs = self.runs, {}
        self.clear()
        for news in runs:
            run_id = news["id"]
            base = known.get(run_id)
            if run_id in self._unlisted:  # events that came before this reply
                base = merge_run(base, self._unlisted.pop(run_id))
            run = self.runs[run_id] = merge_run(base, news)
            self.add_row(*self._cells(run), key=str(run["id"]))
        if keep is not None and str(keep) in self.rows:
            self.move_cursor(row=self.get_row_index(str(keep)))
        self.border_title = Text(f"{self.label} · {self.row_count or 'none yet'}")

    def update_run(self, news: Run) -> Run | None:
        """Lay ``news`` over a shown run and redraw its row; None if the run is not shown.

        The news of a run not shown is kept for when :meth:`show_runs` lists it.
        """
        run_id = int(news["id"])
        if run_id not in self.runs:
            self._unlisted[run_id] = merge_run(self._unlisted.get(run_id), news)
            return None
        run = self.runs[run_id] = merge_run(self.runs[run_id], news)
        for key, value in zip(self.columns, self._cells(run), strict=True):
            self.update_cell(str(run_id), key, value)
        return run

    def _cells(self, run: Run) -> tuple[Text, ...]:
        return (
            cell(run["id"], right=True),
            cell(run.get("as_of")),
            cell(run.get("trigger")),
            cell(run.get("status")),
            cell(f"{run.get('done', 0)}/{run.get('total', 0)}", right=True),
            cell(run.get("invoices"), right=True),
            cell(run.get("failures"), right=True),
            cell(instant(run.get("started_at"), short=self._short_dates)),
        )
