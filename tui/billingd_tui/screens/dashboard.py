"""The dashboard: the daemon, its clock and next run, open totals and the runs, live."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, get_current_worker

from billingd.money import money_text
from billingd_tui.connection import Daemon
from billingd_tui.messages import (
    Following,
    LedgerChanged,
    OverviewLoaded,
    RunFinished,
    RunProgressed,
    RunsLoaded,
    TotalsLoaded,
)
from billingd_tui.run_view import from_progress, instant, is_running
from billingd_tui.screens.workspace import WorkspaceScreen
from billingd_tui.widgets import RunProgress, RunsTable

EVENTS = ("run.", "invoice.", "payment.", "credit_note.")
RUNS_SHOWN = 20
TOTALS_PAGE = 500  # invoices per invoice.list call when adding up what is open
TOTALS_MAX = 20_000  # beyond this many open invoices the totals say "at least"
REFRESH_DELAY = 1.0  # seconds: events in a burst (a run issuing invoices) cost one reload


def _label(text: str) -> tuple[str, str]:
    return f"{text:<8}", "dim"


def _overview(message: OverviewLoaded | None, totals: TotalsLoaded | None) -> Text:
    """Four lines: the daemon, its clock, what is open, what is parked."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if message is None:
        return text.append("Asking the daemon…", style="italic")
    status, clock = message.status, message.clock
    text.append_text(Text.assemble(_label("Daemon")))
    text.append(
        f"billingd {status.get('version', '?')} · {status.get('database', '?')} · "
        f"{status.get('clients', '?')} clients"
        + (f" · as {status['actor']}" if status.get("actor") else "")
    )
    text.append("\n")
    text.append_text(Text.assemble(_label("Clock")))
    next_run = f"{instant(clock['next_run'])} UTC" if clock.get("next_run") else "none planned"
    text.append(f"{clock.get('clock', '?')} · now {instant(clock.get('now'))} UTC · next run ")
    text.append(next_run, style="bold")
    text.append("\n")
    text.append_text(Text.assemble(_label("Open")))
    if totals is None:
        text.append("adding up…", style="italic")
    else:
        at_least = "" if totals.complete else "at least "
        balances = " · ".join(
            f"{amount} {currency}" for currency, amount in sorted(totals.balances.items())
        )
        text.append(f"{at_least}{totals.count} invoices")
        if balances:
            text.append(" · due ")
            text.append(balances, style="bold")
    text.append("\n")
    text.append_text(Text.assemble(_label("Parked")))
    parked = message.parked
    text.append(
        f"{parked} client{'s' if parked != 1 else ''}" + (" waiting for release" if parked else ""),
        style="bold" if parked else "",
    )
    return text


class DashboardScreen(WorkspaceScreen):
    """Daemon status, totals and the last runs; a running run's bar moves with its events.

    While mounted, a thread worker holds an event subscription (:meth:`Daemon.follow`):
    ``run.progress`` moves the bar and the run's row without asking the daemon;
    ``run.finished`` and invoice or payment events reload the parts they change.
    """

    SUB_TITLE = "Dashboard"
    AUTO_FOCUS = "#runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh", id="dashboard.refresh"),
        Binding("escape", "back", "Back", id="dashboard.back"),
    ]

    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("dashboard: refresh", "Reload the dashboard", "refresh"),
    )

    def __init__(self, *, daemon: Daemon) -> None:
        super().__init__(daemon=daemon)
        self.following = False
        """The subscription is in place (events will arrive)."""
        self.progress_events = 0
        """``run.progress`` events shown so far."""
        self._overview: OverviewLoaded | None = None
        self._totals: TotalsLoaded | None = None
        self._stale: set[str] = set()
        self._asked_for: set[int] = set()
        self._refresh_timer: Timer | None = None
        self._follower: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(_overview(None, None), id="overview")
        yield RunProgress(id="progress", empty="No run yet: press u, then s to start one.")
        yield RunsTable(id="runs", label="Last runs")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#overview", Static).border_title = "billingd"
        self.follow()  # Following, once subscribed, loads everything

    # -- actions ---------------------------------------------------------------

    def action_refresh(self) -> None:
        """Reload everything; subscribe again if the subscription was lost."""
        if self._follower is None or self._follower.is_finished:
            self.follow()
        else:
            self.load("overview", "totals", "runs")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return len(self.app.screen_stack) > 1
        return True

    # -- the subscription ------------------------------------------------------

    def follow(self) -> None:
        self.following = False
        self._follower = self.follow_events()

    @work(thread=True, exclusive=True, group="follow")
    def follow_events(self) -> None:
        self.daemon.follow(self, EVENTS)

    def on_following(self, message: Following) -> None:
        self.following = True
        self.load("overview", "totals", "runs")

    def on_run_progressed(self, message: RunProgressed) -> None:
        self.progress_events += 1
        news = from_progress(asdict(message))
        run = self.query_one("#runs", RunsTable).update_run(news)
        if run is None and news["id"] not in self._asked_for:
            self._asked_for.add(news["id"])  # a run we have not seen: its row comes with
            self.load("runs")  # run.list, once
        progress = self.query_one("#progress", RunProgress)
        if progress.run_id == news["id"]:
            progress.update_run(news)
        else:  # runs go one at a time: the one progressing is the one to watch
            progress.show_run(run or news)

    def on_run_finished(self, message: RunFinished) -> None:
        run = message.run
        progress = self.query_one("#progress", RunProgress)
        if progress.run_id == run["id"] or not is_running(progress.current):
            progress.show_run(run)
        if self.query_one("#runs", RunsTable).update_run(run) is None:
            self.load_later("runs")
        self.load_later("overview", "totals")  # next run, parked clients, what it invoiced

    def on_ledger_changed(self, message: LedgerChanged) -> None:
        self.load_later("totals")

    # -- loading ---------------------------------------------------------------

    def load(self, *parts: str) -> None:
        """Reload ``parts`` now: "overview", "totals", "runs"."""
        for part in parts:
            self._stale.discard(part)
            getattr(self, f"load_{part}")()

    def load_later(self, *parts: str) -> None:
        """Reload ``parts`` shortly, once for a burst of events."""
        self._stale.update(parts)
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(REFRESH_DELAY, self._load_stale)

    def _load_stale(self) -> None:
        self._refresh_timer = None
        self.load(*sorted(self._stale))

    @work(thread=True, exclusive=True, group="overview")
    def load_overview(self) -> None:
        status = self.daemon.request(self, "status")
        clock = self.daemon.request(self, "clock.show") if status is not None else None
        parked = self.daemon.request(self, "parked.list") if clock is not None else None
        if parked is not None and not get_current_worker().is_cancelled:
            self.post_message(OverviewLoaded(status, clock, len(parked)))

    @work(thread=True, exclusive=True, group="totals")
    def load_totals(self) -> None:
        """Count open and partly paid invoices and add up their balance per currency."""
        worker = get_current_worker()
        seen: set[int] = set()  # pages can shift while payments arrive
        balances: dict[str, Decimal] = {}
        pages = [("open", 0), ("partial", 0)]  # (status, offset) still to read
        while pages and len(seen) < TOTALS_MAX:
            status, offset = pages.pop(0)
            page = self.daemon.request(
                self, "invoice.list", status=status, limit=TOTALS_PAGE, offset=offset
            )
            if page is None or worker.is_cancelled:
                return
            for invoice in page:
                if invoice["id"] not in seen:
                    seen.add(invoice["id"])
                    currency = str(invoice["currency"])
                    balance = Decimal(str(invoice["balance"]))
                    balances[currency] = balances.get(currency, Decimal(0)) + balance
            if len(page) == TOTALS_PAGE:
                pages.insert(0, (status, offset + len(page)))
        texts = {currency: money_text(amount, currency) for currency, amount in balances.items()}
        self.post_message(TotalsLoaded(len(seen), texts, complete=not pages))

    @work(thread=True, exclusive=True, group="runs")
    def load_runs(self) -> None:
        runs = self.daemon.request(self, "run.list", limit=RUNS_SHOWN)
        if runs is not None and not get_current_worker().is_cancelled:
            self.post_message(RunsLoaded(runs))

    # -- showing ---------------------------------------------------------------

    def on_overview_loaded(self, message: OverviewLoaded) -> None:
        self._overview = message
        self._show_overview()

    def on_totals_loaded(self, message: TotalsLoaded) -> None:
        self._totals = message
        self._show_overview()

    def _show_overview(self) -> None:
        overview = _overview(self._overview, self._totals)
        self.query_one("#overview", Static).update(overview)

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        table = self.query_one("#runs", RunsTable)
        table.show_runs(message.runs)
        progress = self.query_one("#progress", RunProgress)
        shown = progress.current
        if shown is not None and shown["id"] in table.runs:
            progress.update_run(table.runs[shown["id"]])  # its as-of date, a missed finish
        elif not is_running(shown):
            running = [run for run in table.runs.values() if is_running(run)]
            latest = running[-1] if running else next(iter(table.runs.values()), None)
            progress.show_run(latest)  # the oldest run still going, else the newest one
