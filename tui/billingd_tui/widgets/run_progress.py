"""One billing run's progress: a title, its counts and a bar that moves with the events."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

from billingd_tui.format import inert
from billingd_tui.run_view import Run, counts_text, instant, merge_run


class RunProgress(Vertical):
    """Shows one run (:meth:`show_run`) and follows it (:meth:`update_run`).

    The bar counts clients done out of the run's total; the title says which run,
    as of when, and its status.
    """

    DEFAULT_CSS = """
    RunProgress {
        height: auto;
        padding: 0 1;
        border-top: solid $primary-darken-2;
        border-title-color: $text;
    }
    RunProgress #run-counts {
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    RunProgress ProgressBar, RunProgress ProgressBar > Horizontal, RunProgress Bar {
        width: 1fr;
    }
    """

    def __init__(
        self,
        *,
        empty: str = "No run yet.",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.empty = empty
        self.current: Run | None = None
        """What is known of the run shown."""

    def compose(self) -> ComposeResult:
        yield Label(Text(self.empty), id="run-counts")
        yield ProgressBar(total=1, show_eta=False, id="run-bar")

    def on_mount(self) -> None:
        self.border_title = "Run"
        self.query_one(ProgressBar).display = False

    @property
    def run_id(self) -> int | None:
        return None if self.current is None else int(self.current["id"])

    @property
    def bar(self) -> ProgressBar:
        return self.query_one("#run-bar", ProgressBar)

    def show_run(self, run: Run | None) -> None:
        """Show ``run`` (None: no run) in place of the one shown."""
        self.current = None
        if run is None:
            self.border_title = "Run"
            self.query_one("#run-counts", Label).update(Text(self.empty))
            self.bar.display = False
            return
        self.update_run(run)

    def update_run(self, news: Run) -> None:
        """Lay ``news`` (a view, or a progress event's figures) over the run shown."""
        if self.current is not None and int(news["id"]) != self.run_id:
            return
        run = self.current = merge_run(self.current, news)
        title = f"Run {run['id']}"
        if run.get("as_of"):
            title += f" · as of {run['as_of']}"
        title += f" · {run.get('status', 'running')}"
        if run.get("finished_at"):
            title += f" {instant(run['finished_at'])}"
        self.border_title = Text(inert(title))
        self.query_one("#run-counts", Label).update(Text(inert(counts_text(run))))
        total = int(run.get("total") or 0)
        bar = self.bar
        bar.display = True
        bar.update(total=max(total, 1), progress=run.get("done", 0) if total else 1)
