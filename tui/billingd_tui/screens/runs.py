"""Billing runs: the recent ones, the highlighted run's counts and errors; start one now."""

from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from billingd_tui.connection import Daemon
from billingd_tui.format import assemble, cell, inert
from billingd_tui.messages import (
    Following,
    RunFinished,
    RunLoaded,
    RunProgressed,
    RunsLoaded,
    RunStarted,
)
from billingd_tui.run_view import Run, from_progress, instant
from billingd_tui.screens.confirm import ConfirmScreen
from billingd_tui.screens.dry_run import DryRunScreen
from billingd_tui.screens.parked import ParkedScreen
from billingd_tui.screens.workspace import WorkspaceScreen
from billingd_tui.widgets import RunProgress, RunsTable

RUNS_SHOWN = 50
HIGHLIGHT_DELAY = 0.1  # seconds on a run's row before its errors are fetched
START_QUESTION = Text.assemble(
    ("Start a billing run now?", "bold"),
    "\n\nIt bills every active client for everything due up to today: "
    "invoices are numbered, booked and delivered, and cannot be taken back "
    "(only voided or credited).",
)


def _details(run: Run) -> Text:
    """When and by whom the run was started, and what else it did."""
    who = f"{run.get('trigger') or '?'}" + (f" by {run['actor']}" if run.get("actor") else "")
    scope = f"client {run['client_id']}" if run.get("client_id") else "all clients"
    return assemble(
        ("Started ", "dim"),
        instant(run.get("started_at")) or "—",
        ("  finished ", "dim"),
        instant(run.get("finished_at"), short=True) or "—",
        ("  ", ""),
        f"{who} · {scope}",
        "\n",
        ("Documents ", "dim"),
        str(run.get("documents", "—")),
        ("  emails ", "dim"),
        str(run.get("emails", "—")),
        ("  charges ", "dim"),
        str(run.get("charges", "—")),
    )


class RunsScreen(WorkspaceScreen):
    """Recent runs; the highlighted one's counts, live while it runs, and its errors."""

    SUB_TITLE = "Runs"
    AUTO_FOCUS = "#runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "start_run", "Start run", id="runs.start"),
        Binding("p", "dry_run", "Dry run", id="runs.dry_run"),
        Binding("k", "parked", "Parked", id="runs.parked"),
        Binding("r", "refresh", "Refresh", id="runs.refresh", show=False),
        Binding("escape", "back", "Back", id="runs.back"),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("runs: refresh", "Reload the runs", "refresh"),
        ("run: dry run", "What a run would issue now, per client; nothing written", "dry_run"),
        ("runs: parked clients", "Clients not billed until released; release one", "parked"),
    )

    def __init__(self, *, daemon: Daemon) -> None:
        super().__init__(daemon=daemon)
        self.following = False
        """The subscription is in place (events will arrive)."""
        self.run_id: int | None = None
        """The run whose counts and errors are shown."""
        self._highlight_timer: Timer | None = None
        self._asked_for: set[int] = set()
        self._follower: Worker[None] | None = None
        self._starting = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield RunsTable(id="runs", label="Runs")
        yield RunProgress(
            id="progress", empty="No run yet: s starts one, p shows what it would issue."
        )
        yield Static(id="details")
        yield DataTable(id="errors", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        errors = self.query_one("#errors", DataTable)
        errors.border_title = "Errors"
        errors.add_column(cell("Client", right=True), key="client", width=6)
        errors.add_column("Message", key="message", width=max(20, self.size.width - 12))
        self.follow()  # Following, once subscribed, loads the runs

    # -- actions ---------------------------------------------------------------

    def action_refresh(self) -> None:
        """Reload the runs; subscribe again if the subscription was lost."""
        if self._follower is None or self._follower.is_finished:
            self.follow()
        else:
            self.load_runs()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return len(self.app.screen_stack) > 1
        if action == "start_run":
            return None if self._starting else True  # shown dimmed while one is asked for
        return True

    def action_start_run(self) -> None:
        """Ask, then bill now: ``run.start`` for all clients up to today."""
        if self._starting:
            return
        self._starting = True
        self.refresh_bindings()
        confirm = ConfirmScreen(title="Billing run", question=START_QUESTION, confirm="Start run")
        self.app.push_screen(confirm, self._start_confirmed)

    def action_dry_run(self) -> None:
        self.app.push_screen(DryRunScreen(daemon=self.daemon))

    def action_parked(self) -> None:
        self.app.push_screen(ParkedScreen(daemon=self.daemon))

    def _start_confirmed(self, yes: bool | None) -> None:
        if yes:
            self.start_run()
        else:
            self._starting = False
            self.refresh_bindings()

    @work(thread=True, exclusive=True, group="start")
    def start_run(self) -> None:
        run = self.daemon.request(self, "run.start")
        self.post_message(RunStarted(run or {}))

    def on_run_started(self, message: RunStarted) -> None:
        self._starting = False
        self.refresh_bindings()
        if not message.run:
            return  # refused: the app says why
        self.notify(f"Run {message.run['id']} started.", title="Billing run")
        self.show_run(message.run)
        self.load_runs(select=message.run["id"])

    # -- the subscription ------------------------------------------------------

    def follow(self) -> None:
        self.following = False
        self._follower = self.follow_events()

    @work(thread=True, exclusive=True, group="follow")
    def follow_events(self) -> None:
        self.daemon.follow(self, ("run.",))

    def on_following(self, message: Following) -> None:
        self.following = True
        self.load_runs()
        if self.run_id is not None:
            self.load_run(self.run_id)

    def on_run_progressed(self, message: RunProgressed) -> None:
        news = from_progress(asdict(message))
        if self.query_one("#runs", RunsTable).update_run(news) is None:
            self.load_unknown_run(news["id"])  # started elsewhere (the schedule, billingctl)
        if news["id"] == self.run_id:
            self.query_one("#progress", RunProgress).update_run(news)

    def on_run_finished(self, message: RunFinished) -> None:
        run = message.run
        if self.query_one("#runs", RunsTable).update_run(run) is None:
            self.load_unknown_run(run["id"])
        if run["id"] == self.run_id:
            self.show_run(run)  # the finished view has the errors too

    # -- loading ---------------------------------------------------------------

    def load_unknown_run(self, run_id: int) -> None:
        """Events came for a run not listed: list the runs again, once per run."""
        if run_id not in self._asked_for:
            self._asked_for.add(run_id)
            self.load_runs()

    @work(thread=True, exclusive=True, group="runs")
    def load_runs(self, select: int | None = None) -> None:
        runs = self.daemon.request(self, "run.list", limit=RUNS_SHOWN)
        if runs is not None and not get_current_worker().is_cancelled:
            self.post_message(RunsLoaded(runs, select))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        table = self.query_one("#runs", RunsTable)
        table.show_runs(message.runs, select=message.select)
        if not table.runs:
            self.show_run(None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "runs" or event.row_key.value is None:
            return
        run_id = int(event.row_key.value)
        if self._highlight_timer is not None:
            self._highlight_timer.stop()
        if run_id != self.run_id:
            self.show_run(self.query_one("#runs", RunsTable).runs.get(run_id))
        self._highlight_timer = self.set_timer(HIGHLIGHT_DELAY, lambda: self.load_run(run_id))

    @work(thread=True, exclusive=True, group="run")
    def load_run(self, run_id: int) -> None:
        run = self.daemon.request(self, "run.show", id=run_id)
        if run is not None and not get_current_worker().is_cancelled:
            self.post_message(RunLoaded(run))

    def on_run_loaded(self, message: RunLoaded) -> None:
        if message.run["id"] == self.run_id:
            self.show_run(message.run)

    # -- showing ---------------------------------------------------------------

    def show_run(self, run: Run | None) -> None:
        """Show ``run``'s counts, details and errors (None: nothing)."""
        progress = self.query_one("#progress", RunProgress)
        errors = self.query_one("#errors", DataTable)
        details = self.query_one("#details", Static)
        if run is None:
            self.run_id = None
            progress.show_run(None)
            details.update("")
            errors.clear()
            errors.border_title = "Errors"
            return
        if run["id"] != self.run_id:
            self.run_id = run["id"]
            progress.show_run(run)
        else:
            progress.update_run(run)
        shown = progress.current or run
        details.update(_details(shown))
        if "errors" in run:
            errors.clear()
            for error in run["errors"]:
                errors.add_row(
                    cell(error.get("client_id"), right=True),
                    Text(inert(error.get("message"))),  # wraps: the row grows
                    height=None,
                )
            errors.border_title = f"Errors · {len(run['errors']) or 'none'}"
