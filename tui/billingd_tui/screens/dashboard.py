"""The dashboard: the daemon and its clock, open balances by age, revenue per month,
the queues (parked clients, outbox, dunning) and the runs, live."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from decimal import Decimal
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, get_current_worker

from billingd.money import money_text
from billingd_tui.connection import Daemon
from billingd_tui.format import assemble, inert, money_width
from billingd_tui.messages import (
    Following,
    Happened,
    LedgerChanged,
    OverviewLoaded,
    ReportsLoaded,
    RunFinished,
    RunProgressed,
    RunsLoaded,
)
from billingd_tui.run_view import from_progress, instant, is_running
from billingd_tui.screens.workspace import WorkspaceScreen
from billingd_tui.widgets import RunProgress, RunsTable
from billingd_tui.widgets.revenue_chart import (
    INVOICED_STYLE,
    PAID_STYLE,
    RevenueChart,
    month_figures,
)

EVENTS = ("run.", "invoice.", "payment.", "credit_note.", *Happened.NAMES)
RUNS_SHOWN = 20
MONTHS = 12  # of revenue in the chart
DUNNING_MAX = 1000  # overdue invoices counted; beyond, the dashboard says "1000+"
REFRESH_DELAY = 1.0  # seconds: events in a burst (a run issuing invoices) cost one reload
TALL = 36  # rows from which the chart is drawn taller


def _label(text: str) -> tuple[str, str]:
    return f"{text:<8}", "dim"


def _overview(message: OverviewLoaded | None, reports: ReportsLoaded | None) -> Text:
    """Five lines: the daemon, its clock, what is open, the parked clients and the outbox,
    dunning."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if message is None:
        return text.append("Asking the daemon…", style="italic")
    status, clock = message.status, message.clock
    text.append_text(Text.assemble(_label("Daemon")))
    text.append(
        inert(
            f"billingd {status.get('version', '?')} · {status.get('database', '?')} · "
            f"{status.get('clients', '?')} clients"
            + (f" · as {status['actor']}" if status.get("actor") else "")
        )
    )
    text.append("\n")
    text.append_text(Text.assemble(_label("Clock")))
    now = instant(clock.get("now"))
    if clock.get("clock") == "test":
        text.append(f" TEST CLOCK {now[:10]} ", style="bold black on yellow")
        text.append(f" {now[11:]} UTC · next run ")
    else:
        text.append(inert(f"{clock.get('clock', '?')} · now {now} UTC · next run "))
    next_run = f"{instant(clock['next_run'])} UTC" if clock.get("next_run") else "none planned"
    text.append(next_run, style="bold")
    text.append("\n")
    text.append_text(Text.assemble(_label("Open")))
    if reports is None:
        text.append("adding up…", style="italic")
    else:
        totals = {c: figures["total"] for c, figures in reports.aging["currencies"].items()}
        count = sum(int(total["invoices"]) for total in totals.values())
        text.append(f"{count} invoices")
        if totals:
            text.append(" · due ")
            due = (f"{money_text(Decimal(t['amount']), c)} {c}" for c, t in totals.items())
            text.append(" · ".join(due), style="bold")
    text.append("\n")
    text.append_text(Text.assemble(_label("Parked")))
    parked = message.parked
    text.append(
        f"{parked} client{'s' if parked != 1 else ''}" + (" waiting for release" if parked else ""),
        style="bold" if parked else "",
    )
    text.append(" · outbox ")
    text.append_text(_outbox(status.get("outbox") or {}))
    text.append("\n")
    text.append_text(Text.assemble(_label("Dunning")))
    text.append_text(_dunning(reports.dunning if reports is not None else None))
    return text


def _outbox(channels: dict[str, dict[str, int]]) -> Text:
    """Messages waiting per state over all channels; failed ones stand out."""
    states: Counter[str] = Counter()
    for counts in channels.values():
        states.update(counts)
    if not states:
        return Text("empty", style="dim")
    parts = [
        Text(inert(f"{n} {state}"), style="bold red" if state == "failed" else "")
        for state, n in sorted(states.items())
    ]
    return Text(", ").join(parts)


def _dunning(states: list[dict[str, Any]] | None) -> Text:
    """Overdue invoices and how many are in each dunning state."""
    if states is None:
        return Text("asking…", style="italic")
    if not states:
        return Text("nothing overdue", style="dim")
    more = "+" if len(states) >= DUNNING_MAX else ""
    counts = Counter(str(state.get("state")) for state in states)
    detail = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.most_common())
    return Text(inert(f"{len(states)}{more} overdue invoices: {detail}"))


def _aging(aging: dict[str, Any] | None) -> Table | Text:
    """Open balances per currency (rows) in buckets of days overdue (columns), each column
    as wide as its widest amount."""
    if aging is None:
        return Text("adding up…", style="italic")
    currencies = aging["currencies"]
    if not currencies:
        return Text("No open balances.", style="dim")
    buckets = [*aging["buckets"], "total"]
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False)
    table.add_column("", style="bold", no_wrap=True)
    for bucket in buckets:
        amounts = [figures[bucket]["amount"] for figures in currencies.values()]
        label = f"{bucket} days" if bucket[0].isdigit() else bucket
        width = money_width(amounts, label=label)
        table.add_column(label, justify="right", no_wrap=True, min_width=width, max_width=width)
    for currency, figures in currencies.items():
        cells = [
            Text(figures[b]["amount"], style="" if figures[b]["invoices"] else "dim")
            for b in buckets
        ]
        cells[-1].stylize("bold")
        if figures["90+"]["invoices"]:
            cells[-2].stylize("bold red")
        table.add_row(currency, *cells)
    return table


class DashboardScreen(WorkspaceScreen):
    """The daemon and its clock, open balances by age, revenue per month, the queues and
    the last runs; a running run's bar moves with its events.

    While mounted, a thread worker holds an event subscription (:meth:`Daemon.follow`):
    ``run.progress`` moves the bar and the run's row without asking the daemon;
    ``run.finished`` and invoice, payment, outbox and dunning events reload the parts
    they change (``report.revenue``, ``report.aging``: figures the daemon adds up).
    """

    SUB_TITLE = "Dashboard"
    AUTO_FOCUS = "#runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh", id="dashboard.refresh"),
        Binding("m", "next_currency", "Currency", id="dashboard.next_currency"),
        Binding("escape", "back", "Back", id="dashboard.back"),
    ]

    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("dashboard: refresh", "Reload the dashboard", "refresh"),
        ("dashboard: next currency", "Show the revenue of the next currency", "next_currency"),
    )

    def __init__(self, *, daemon: Daemon) -> None:
        super().__init__(daemon=daemon)
        self.following = False
        """The subscription is in place (events will arrive)."""
        self.progress_events = 0
        """``run.progress`` events shown so far."""
        self.currency: str | None = None
        """The currency the revenue chart shows (None: the first the daemon lists)."""
        self._overview: OverviewLoaded | None = None
        self._reports: ReportsLoaded | None = None
        self._stale: set[str] = set()
        self._asked_for: set[int] = set()
        self._refresh_timer: Timer | None = None
        self._follower: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(_overview(None, None), id="overview")
        yield Static(_aging(None), id="aging")
        yield RevenueChart(id="revenue")
        yield RunProgress(id="progress", empty="No run yet: press u, then s to start one.")
        yield RunsTable(id="runs", label="Last runs")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#overview", Static).border_title = "billingd"
        self.query_one("#aging", Static).border_title = "Open balances by days overdue"
        self.query_one("#revenue", RevenueChart).border_title = f"Revenue · last {MONTHS} months"
        self.follow()  # Following, once subscribed, loads everything

    def on_resize(self) -> None:
        self.query_one("#revenue").styles.height = 12 if self.size.height >= TALL else 6

    # -- actions ---------------------------------------------------------------

    def action_refresh(self) -> None:
        """Reload everything; subscribe again if the subscription was lost."""
        if self._follower is None or self._follower.is_finished:
            self.follow()
        else:
            self.load("overview", "reports", "runs")

    def action_next_currency(self) -> None:
        """Chart the next currency's revenue (in the order the daemon lists them)."""
        currencies = self._reports.revenue["currencies"] if self._reports else []
        if currencies:
            shown = self._chart_currency(self._reports)
            self.currency = currencies[(currencies.index(shown) + 1) % len(currencies)]
            self._show_revenue()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return len(self.app.screen_stack) > 1
        if action == "next_currency":
            return self._reports is not None and len(self._reports.revenue["currencies"]) > 1
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
        self.load("overview", "reports", "runs")

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
        self.load_later("overview", "reports")  # next run, parked clients, what it invoiced

    def on_ledger_changed(self, message: LedgerChanged) -> None:
        self.load_later("overview", "reports")  # the outbox queues what is sent

    def on_happened(self, message: Happened) -> None:
        self.load_later("overview", "reports")  # outbox, dunning, released clients

    # -- loading ---------------------------------------------------------------

    def load(self, *parts: str) -> None:
        """Reload ``parts`` now: "overview", "reports", "runs"."""
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

    @work(thread=True, exclusive=True, group="reports")
    def load_reports(self) -> None:
        """Revenue per month, open balances by age and the overdue invoices' dunning."""
        revenue = self.daemon.request(self, "report.revenue", months=MONTHS)
        aging = self.daemon.request(self, "report.aging") if revenue is not None else None
        dunning = (
            self.daemon.request(self, "dunning.list", limit=DUNNING_MAX)
            if aging is not None
            else None
        )
        if dunning is not None and not get_current_worker().is_cancelled:
            self.post_message(ReportsLoaded(revenue, aging, dunning))

    @work(thread=True, exclusive=True, group="runs")
    def load_runs(self) -> None:
        runs = self.daemon.request(self, "run.list", limit=RUNS_SHOWN)
        if runs is not None and not get_current_worker().is_cancelled:
            self.post_message(RunsLoaded(runs))

    # -- showing ---------------------------------------------------------------

    def on_overview_loaded(self, message: OverviewLoaded) -> None:
        self._overview = message
        self._show_overview()

    def on_reports_loaded(self, message: ReportsLoaded) -> None:
        self._reports = message
        self._show_overview()
        aging = self.query_one("#aging", Static)
        aging.update(_aging(message.aging))
        aging.border_title = f"Open balances by days overdue · as of {message.aging['as_of']}"
        self._show_revenue()
        self.refresh_bindings()

    def _show_overview(self) -> None:
        overview = _overview(self._overview, self._reports)
        self.query_one("#overview", Static).update(overview)

    def _chart_currency(self, reports: ReportsLoaded) -> str:
        """The currency chosen with ``m`` while there are figures in it, else the first."""
        currencies = reports.revenue["currencies"]
        if self.currency in currencies:
            return self.currency
        return currencies[0] if currencies else ""

    def _show_revenue(self) -> None:
        if self._reports is None:
            return
        chart = self.query_one("#revenue", RevenueChart)
        currency = self._chart_currency(self._reports)
        figures = month_figures(self._reports.revenue, currency)
        chart.show(figures, currency)
        invoiced = sum((f.invoiced for f in figures), Decimal(0))
        paid = sum((f.paid for f in figures), Decimal(0))
        span = f"{figures[0].month}–{figures[-1].month}" if figures else ""
        chart.border_title = (
            assemble(
                f"Revenue {currency} · {span} · ",
                (f"invoiced {money_text(invoiced, currency)}", INVOICED_STYLE),
                " · ",
                (f"paid {money_text(paid, currency)}", PAID_STYLE),
            )
            if currency
            else f"Revenue · last {MONTHS} months · nothing invoiced"
        )

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
