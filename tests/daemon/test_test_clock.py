"""The test clock is exact (R-RUN-15; issue 9, defects 8 and 9).

When it moves forward, the daemon performs each scheduled fire time in between at its
own instant, in order, exactly as if that time had passed: each run's context reads the
fire's time, so the run is as of the fire's local date and issues what was due then. On
a fresh database the clock may move anywhere, also backwards, until the first document
is issued; ``status.next_run`` follows the test clock, not the system clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billingd.clock import ClockRefused, FixedClock, TestClock, parse_duration
from billingd.services import credit_notes, invoicing, parties
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon
from tests.conftest import billingctl_ok as ctl
from tests.daemon.test_crash_recovery import wait_for, wait_run_done
from tests.daemon.test_scheduler_robustness import refused

DAILY = "clock: test\ninvoicing: auto\ntimezone: UTC\nschedule: '0 2 * * *'\n"


@pytest.fixture
def daemon(database_url: str, short_dir: Path) -> Iterator[RunningDaemon]:
    """A daemon with the test clock and a nightly schedule, on SQLite and PostgreSQL."""
    running = RunningDaemon(short_dir, database_url, DAILY)
    yield running
    running.stop()


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def runs_after(daemon: RunningDaemon, known: set[int]) -> list[dict[str, Any]]:
    """Runs recorded since ``known``, oldest first."""
    return [r for r in reversed(daemon.call("run.list", limit=500)) if r["id"] not in known]


def test_r_run_15_clock_advance_performs_each_fire_at_its_own_instant(
    daemon: RunningDaemon,
) -> None:
    ctl(daemon, "clock", "set", "2030-01-01T03:00Z")
    company = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    client = daemon.call("client.add", name="Jane", enterprise=company["id"], invoice_days="1,15")[
        "id"
    ]
    daemon.call(
        "contract.add",
        client=client,
        description="Hosted PBX",
        price="100.00",
        cycle="month",
        start="2030-01-01",
    )
    created = wait_for(
        lambda: [r for r in daemon.call("run.list") if r["trigger"] == "contract"],
        10,
        "the contract's run",
    )
    assert wait_run_done(daemon, created[0]["id"], 10)["as_of"] == "2030-01-01"
    known = {r["id"] for r in daemon.call("run.list", limit=500)}

    moved = ctl(daemon, "clock", "advance", "45d")  # the reply waits for the fires
    assert moved["now"] == "2030-02-15T03:00:00Z"
    assert moved["next_run"] == "2030-02-16T02:00:00Z"  # from the test clock
    assert ctl(daemon, "status")["next_run"] == "2030-02-16T02:00:00Z"
    fired = runs_after(daemon, known)
    # one scheduled run per nightly fire time passed, in order, each as of its own day
    assert [r["as_of"] for r in fired] == [
        (day("2030-01-02") + dt.timedelta(days=n)).isoformat() for n in range(45)
    ]
    assert {(r["trigger"], r["status"], r["failures"]) for r in fired} == {("schedule", "done", 0)}
    invoiced_by = {r["as_of"]: r["invoices"] for r in fired if r["invoices"]}
    invoices = sorted(daemon.call("invoice.list", client=client), key=lambda i: i["issue_date"])
    # every invoice was issued by the run of its own day, on that day
    assert invoiced_by == {i["issue_date"]: 1 for i in invoices}
    january = next(i for i in invoices if i["period_start"] == "2030-01-01")
    assert (january["issue_date"], january["period_end"]) == ("2030-01-15", "2030-01-14")
    assert "2030-02-15" in invoiced_by  # the February cycle, on the next invoice day
    started = [a for a in daemon.call("audit.list", limit=500) if a["event"] == "run.started"]
    fires = {a["details"]["as_of"]: a["details"].get("fire") for a in started}
    assert fires["2030-01-15"] == "2030-01-15T02:00:00+00:00"


def test_r_run_15_more_fires_than_the_limit_are_collapsed_into_the_last(
    daemon: RunningDaemon,
) -> None:
    """From the system time (2026 or so) to 2030: years of nightly fires, one run."""
    known = {r["id"] for r in daemon.call("run.list", limit=500)}
    ctl(daemon, "clock", "set", "2030-01-01T03:00Z")
    (run,) = runs_after(daemon, known)
    assert (run["as_of"], run["trigger"], run["status"]) == ("2030-01-01", "schedule", "done")
    (started,) = [
        a
        for a in daemon.call("audit.list", limit=50)
        if a["event"] == "run.started" and a["subject_id"] == run["id"]
    ]
    assert started["details"]["fire"] == "2030-01-01T02:00:00+00:00"
    assert started["details"]["collapsed"].startswith("more than 400 fires since ")
    assert "only the last is performed" in daemon.log_text()


@pytest.mark.slow  # clock moved over decades of fires
def test_r_run_15_fresh_database_clock_moves_backwards_until_a_document(
    daemon: RunningDaemon,
) -> None:
    # a fresh database: any instant, also before today, and next_run follows it
    moved = ctl(daemon, "clock", "set", "2020-06-01T12:00Z")
    assert (moved["now"], moved["next_run"]) == ("2020-06-01T12:00:00Z", "2020-06-02T02:00:00Z")
    status = ctl(daemon, "status")
    assert (status["now"], status["next_run"]) == (moved["now"], moved["next_run"])
    ctl(daemon, "clock", "set", "1999-03-01T00:00Z")
    assert ctl(daemon, "clock", "show")["next_run"] == "1999-03-01T02:00:00Z"
    company = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    client = daemon.call("client.add", name="Jane", enterprise=company["id"])
    ctl(daemon, "clock", "set", "2000-01-01T00:00Z")  # clients are no documents
    daemon.call("invoice.amount", client=client["id"], date="2000-01-01", amount="119.00")
    error = refused(daemon, "clock", "set", "1999-12-31T23:59Z")
    assert error["code"] == 1002 and error["data"]["rule"] == "R-RUN-15"
    assert "only moves forward once a document was issued" in error["message"]
    assert ctl(daemon, "clock", "show")["now"] == "2000-01-01T00:00:00Z"  # unchanged
    ctl(daemon, "clock", "set", "2000-01-01T00:00Z")  # standing still is fine
    bounds = refused(daemon, "clock", "set", "1969-12-31T23:59Z")
    assert bounds["code"] == -32602 and "from 1970-01-01 to 2199-12-31" in bounds["message"]


# -- in process, on both databases --------------------------------------------------------


def test_r_run_15_test_clock_backwards_only_before_the_first_document(
    ctx: ServiceContext,
) -> None:
    clock = TestClock()
    start = clock.set(dt.datetime(2030, 5, 1, 12, tzinfo=dt.UTC))
    assert clock.set(dt.datetime(1990, 1, 1)) == dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
    clock.set(start)
    ctx.clock = clock
    company = parties.add_enterprise(ctx, name="Acme", currency="EUR", tax_rate=Decimal(19))
    client = parties.add_client(ctx, name="Jane", enterprise_id=company.id)
    (invoice,) = invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=start.date(), amount=Decimal("119.00")
    )
    with pytest.raises(ClockRefused, match="only moves forward"):
        clock.set(start - dt.timedelta(seconds=1))
    assert clock.now() == start
    assert clock.advance("1d") == start + dt.timedelta(days=1)
    credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=Decimal("10.00"))
    with pytest.raises(ClockRefused):
        clock.set(start)


@pytest.mark.parametrize(
    "target",
    [dt.datetime(1969, 12, 31, 23, 59, tzinfo=dt.UTC), dt.datetime(2200, 1, 1, tzinfo=dt.UTC)],
)
def test_r_run_15_test_clock_stays_within_its_bounds(ctx: ServiceContext, target: Any) -> None:
    clock = TestClock()
    before = clock.now()
    with pytest.raises(ValueError, match="from 1970-01-01 to 2199-12-31"):
        clock.set(target)
    assert clock.now() == before
    clock.set(dt.datetime(2199, 12, 31, 23, 59, 59, tzinfo=dt.UTC))  # the last instant
    with pytest.raises(ValueError, match="from 1970-01-01 to 2199-12-31"):
        clock.advance("1s")


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("31d", True), ("84005d", True), ("12000w", True), ("84006d", False), ("99999999999w", False)],
)
def test_durations_are_bounded_before_any_arithmetic(text: str, accepted: bool) -> None:
    if accepted:
        assert parse_duration(text) > dt.timedelta(0)
    else:
        with pytest.raises(ValueError, match="longer than the test clock's range"):
            parse_duration(text)


def test_a_fixed_clock_context_reads_its_instant() -> None:
    instant = dt.datetime(2030, 1, 15, 2, tzinfo=dt.UTC)
    fixed = ServiceContext(actor="system").at(instant)
    assert fixed.clock.now() == instant and fixed.actor == "system"
    assert fixed.today("Pacific/Auckland") == dt.date(2030, 1, 15)
    assert fixed.today("America/New_York") == dt.date(2030, 1, 14)
    assert fixed.acting_as("alice").clock.now() == instant  # a step keeps the instant
    assert FixedClock(dt.datetime(2030, 1, 1)).now() == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
