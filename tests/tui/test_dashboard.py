"""The dashboard's figures: ``report.revenue`` and ``report.aging`` over the socket, the
bucketing of due dates, and the dashboard itself at 80x24."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from billingd.domain.reports import AGING_BUCKETS, aging_bucket, last_months
from billingd_tui.app import BillingApp
from billingd_tui.screens import DashboardScreen
from tests.conftest import RunningDaemon, billingctl_ok
from tests.tui.pilot import SIZE, screen_text, wait_for

TEST_CLOCK = "clock: test\ninvoicing: manual\n"


@pytest.fixture
def clocked(short_dir: Path, database_url: str) -> Iterator[RunningDaemon]:
    """A daemon on the test clock, on SQLite and PostgreSQL in turn."""
    running = RunningDaemon(short_dir, database_url, TEST_CLOCK)
    yield running
    running.stop()


# -- the calendar (pure) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "bucket"),
    [
        ("2024-03-31", "current"),  # due later
        ("2024-03-01", "current"),  # due today
        ("2024-02-29", "1-30"),  # the leap day: one day overdue
        ("2024-01-31", "1-30"),  # 30 days
        ("2024-01-30", "31-60"),  # 31 days
        ("2024-01-01", "31-60"),  # 60 days
        ("2023-12-31", "61-90"),  # 61 days
        ("2023-12-02", "61-90"),  # 90 days
        ("2023-12-01", "90+"),  # 91 days
        ("1999-01-01", "90+"),
    ],
)
def test_aging_bucket_counts_days_overdue_across_a_leap_february(due: str, bucket: str) -> None:
    assert aging_bucket(dt.date.fromisoformat(due), dt.date(2024, 3, 1)) == bucket


def test_last_months_cross_the_year_and_end_with_todays() -> None:
    assert last_months(dt.date(2024, 2, 29), 3) == ["2023-12", "2024-01", "2024-02"]
    assert last_months(dt.date(2024, 12, 31), 1) == ["2024-12"]
    assert len(last_months(dt.date(2024, 1, 1), 120)) == 120


# -- over the socket -----------------------------------------------------------------


def _at(daemon: RunningDaemon, instant: str) -> None:
    daemon.call("clock.set", to=instant)


def _ledger(daemon: RunningDaemon) -> dict[str, Any]:
    """Two enterprises (EUR, USD), and invoices, payments, a void and a credit note from
    January to March 2024 (a leap year), issued on month ends and month starts."""
    _at(daemon, "2024-01-31T12:00:00Z")
    eur = daemon.call("enterprise.add", name="Acme", currency="EUR")
    usd = daemon.call("enterprise.add", name="Globex", currency="USD")
    jane = daemon.call("client.add", name="Jane", enterprise=eur["id"])
    sam = daemon.call("client.add", name="Sam", enterprise=usd["id"])
    [january] = daemon.call("invoice.amount", client=jane["id"], date="2024-01-31", amount="100.00")
    _at(daemon, "2024-02-29T23:59:00Z")
    [leap] = daemon.call("invoice.amount", client=jane["id"], date="2024-02-29", amount="50.10")
    [voided] = daemon.call("invoice.amount", client=jane["id"], date="2024-02-29", amount="20.00")
    daemon.call("invoice.void", invoice=voided["id"])
    daemon.call("payment.record", client=jane["id"], amount="30.00", invoice=leap["id"])
    _at(daemon, "2024-03-01T00:00:00Z")
    daemon.call("credit_note.issue", invoice=january["id"], amount="10.00")
    [big] = daemon.call("invoice.amount", client=sam["id"], date="2024-03-01", amount="1234567.89")
    daemon.call("payment.record", client=sam["id"], amount="0.01", invoice=big["id"])
    return {"january": january, "leap": leap, "big": big}


def test_revenue_per_month_nets_credit_notes_and_leaves_out_void_invoices(
    clocked: RunningDaemon,
) -> None:
    _ledger(clocked)
    report = clocked.call("report.revenue", months=4)
    assert report["as_of"] == "2024-03-01"
    assert report["currencies"] == ["EUR", "USD"]
    assert [m["month"] for m in report["months"]] == ["2023-12", "2024-01", "2024-02", "2024-03"]
    december, january, february, march = report["months"]
    assert december == {
        "month": "2023-12",
        "invoiced": {"EUR": "0.00", "USD": "0.00"},
        "paid": {"EUR": "0.00", "USD": "0.00"},
    }
    assert january["invoiced"] == {"EUR": "100.00", "USD": "0.00"}  # issued on the 31st
    assert february["invoiced"] == {"EUR": "50.10", "USD": "0.00"}  # the void one is not
    assert february["paid"] == {"EUR": "30.00", "USD": "0.00"}  # at 23:59 on the leap day
    assert march["invoiced"] == {"EUR": "-10.00", "USD": "1234567.89"}  # the credit note
    assert march["paid"] == {"EUR": "0.00", "USD": "0.01"}
    assert len(clocked.call("report.revenue")["months"]) == 12  # the default


def test_aging_buckets_open_balances_per_currency_as_of_the_clock(
    clocked: RunningDaemon,
) -> None:
    invoices = _ledger(clocked)
    due = {name: dt.date.fromisoformat(invoice["due_date"]) for name, invoice in invoices.items()}
    report = clocked.call("report.aging")
    assert report["as_of"] == "2024-03-01"
    assert report["buckets"] == list(AGING_BUCKETS)
    today = dt.date(2024, 3, 1)
    eur, usd = report["currencies"]["EUR"], report["currencies"]["USD"]
    assert set(eur) == {*AGING_BUCKETS, "total"}
    # January's 100.00 less its 10.00 credit note; the leap-day invoice less 30.00 paid.
    expected: dict[str, list[str]] = {}
    for name, balance in (("january", "90.00"), ("leap", "20.10")):
        expected.setdefault(aging_bucket(due[name], today), []).append(balance)
    for bucket in AGING_BUCKETS:
        amounts = expected.get(bucket, [])
        assert eur[bucket]["invoices"] == len(amounts), bucket
        assert eur[bucket]["amount"] == str(sum(map(Decimal, amounts), Decimal("0.00")))
    assert eur["total"] == {"amount": "110.10", "invoices": 2}
    assert usd["total"] == {"amount": "1234567.88", "invoices": 1}
    assert usd[aging_bucket(due["big"], today)]["amount"] == "1234567.88"

    _at(clocked, "2024-07-01T00:00:00Z")  # everything is long overdue now
    later = clocked.call("report.aging")["currencies"]
    assert later["EUR"]["90+"] == {"amount": "110.10", "invoices": 2}
    assert later["USD"]["90+"] == {"amount": "1234567.88", "invoices": 1}
    assert later["EUR"]["current"] == {"amount": "0.00", "invoices": 0}


def test_reports_refuse_bad_months_and_answer_an_empty_ledger(clocked: RunningDaemon) -> None:
    assert clocked.call("report.aging")["currencies"] == {}
    empty = clocked.call("report.revenue", months=1)
    assert empty["currencies"] == [] and len(empty["months"]) == 1
    for months in (0, 121):
        reply = clocked.raw(
            b'{"jsonrpc":"2.0","id":1,"method":"report.revenue","params":{"months":%d}}\n' % months
        )
        assert reply["error"]["data"]["field"] == "months", reply


# -- the dashboard at 80x24 ------------------------------------------------------------


@pytest.fixture
def clocked_sqlite(short_dir: Path) -> Iterator[RunningDaemon]:
    """A daemon on the test clock, on SQLite (what the TUI tests run against)."""
    running = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", TEST_CLOCK)
    yield running
    running.stop()


async def _dashboard(pilot: Pilot) -> DashboardScreen:
    """Open the dashboard and wait until the overview and the reports are both shown."""
    await pilot.press("d")
    await wait_for(
        pilot,
        lambda: (
            "Revenue " in (text := screen_text(pilot))
            and re.search(r"Open +\d+ invoices", text) is not None
        ),
    )
    assert isinstance(pilot.app.screen, DashboardScreen)
    return pilot.app.screen


@pytest.mark.slow  # over 2 s: a UI session
async def test_dashboard_shows_the_test_clock_aging_and_revenue_live(
    clocked_sqlite: RunningDaemon,
) -> None:
    invoices = _ledger(clocked_sqlite)
    app = BillingApp(socket_path=clocked_sqlite.socket)
    async with app.run_test(size=SIZE) as pilot:
        dashboard = await _dashboard(pilot)
        text = screen_text(pilot)
        clock_line = next(line for line in text.splitlines() if "Clock" in line)
        assert "TEST CLOCK 2024-03-01" in clock_line
        overview = dashboard.query_one("#overview", Static).content
        assert isinstance(overview, Text)
        marker = next(s for s in overview.spans if "TEST CLOCK" in overview.plain[s.start : s.end])
        assert "yellow" in str(marker.style)  # styled, not just words
        assert "Open    3 invoices · due 110.10 EUR · 1234567.88 USD" in text
        assert "as of 2024-03-01" in text
        rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
        assert rows["USD"][-1] == "1234567.88"  # the total, whole at 80 columns
        assert rows["EUR"][-1] == "110.10"
        assert "Revenue EUR · 2023-04–2024-03 · invoiced 140.10 · paid 30.00" in text
        assert "Apr  May" in text and "Feb  Mar" in text  # the months' names, to March
        assert "Dunning" in text and "outbox" in text

        await pilot.press("m")  # the next currency's chart
        await wait_for(pilot, lambda: "Revenue USD" in screen_text(pilot))
        assert "invoiced 1234567.89 · paid 0.01" in screen_text(pilot)

        # Paid elsewhere: the dashboard follows the payment event without a refresh.
        clocked_sqlite.call(
            "payment.record", client=invoices["leap"]["client_id"], amount="20.10",
            invoice=invoices["leap"]["id"],
        )  # fmt: skip
        await wait_for(pilot, lambda: "due 90.00 EUR" in screen_text(pilot))
        assert "Open    2 invoices" in screen_text(pilot)


async def test_dashboard_on_the_system_clock_has_no_test_clock_marker(
    daemon: RunningDaemon,
) -> None:
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await _dashboard(pilot)
        await wait_for(pilot, lambda: "No open balances" in screen_text(pilot))
        text = screen_text(pilot)
        assert "TEST CLOCK" not in text
        assert "system · now" in text
        assert "nothing invoiced" in text and "nothing overdue" in text


def test_billingctl_reports_one_row_per_month_and_currency(clocked_sqlite: RunningDaemon) -> None:
    _ledger(clocked_sqlite)
    assert billingctl_ok(clocked_sqlite, "report", "revenue", "--months", "2") == [
        {"month": "2024-02", "currency": "EUR", "invoiced": "50.10", "paid": "30.00"},
        {"month": "2024-02", "currency": "USD", "invoiced": "0.00", "paid": "0.00"},
        {"month": "2024-03", "currency": "EUR", "invoiced": "-10.00", "paid": "0.00"},
        {"month": "2024-03", "currency": "USD", "invoiced": "1234567.89", "paid": "0.01"},
    ]
    [eur, usd] = billingctl_ok(clocked_sqlite, "report", "aging")
    assert eur["currency"] == "EUR" and eur["total"] == "110.10" and eur["invoices"] == 2
    assert usd == {
        "currency": "USD", "current": "1234567.88", "1-30": "0.00", "31-60": "0.00",
        "61-90": "0.00", "90+": "0.00", "total": "1234567.88", "invoices": 1,
    }  # fmt: skip
    shown = subprocess.run(
        [sys.executable, "-m", "billingd.ctl", "--socket", str(clocked_sqlite.socket),
         "report", "aging"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "1234567.88" in shown and "61-90" in shown
