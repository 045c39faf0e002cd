"""Scheduled billing dates as calendar dates (R-RUN-1, R-RUN-3, R-RUN-4).

Billing dates are computed per client as dates in the enterprise's timezone, never
by firing a wall-clock job per client, so month ends, leap years and DST changes
cannot shift or repeat them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import croniter

from billingd.domain.invoice_days import clamp_day


@dataclass(frozen=True, slots=True)
class Slot:
    """One scheduled invoice: issued on ``issue_date`` for ``period_start..period_end``."""

    issue_date: dt.date
    period_start: dt.date
    period_end: dt.date


def _months(start: dt.date) -> Iterator[tuple[int, int]]:
    year, month = start.year, start.month
    while True:
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def issue_days(days: tuple[int, ...], start: dt.date, until: dt.date) -> list[dt.date]:
    """The invoice days from ``start``'s month through ``until``, clamped to month ends."""
    found: list[dt.date] = []
    for year, month in _months(start):
        if dt.date(year, month, 1) > until:
            return found
        found.extend(d for d in sorted({clamp_day(year, month, day) for day in days}) if d <= until)
    return found  # pragma: no cover - the loop returns


def invoice_day_slots(days: tuple[int, ...], since: dt.date, until: dt.date) -> list[Slot]:
    """Slots issued after ``since`` up to ``until``: each covers the previous invoice day
    through the day before its issue day (R-RUN-3)."""
    if not days:
        return []
    first_month = dt.date(since.year, since.month, 1)
    previous_month = (first_month - dt.timedelta(days=1)).replace(day=1)
    dates = issue_days(days, previous_month, until)
    slots = []
    for before, issue in itertools.pairwise(dates):
        if issue > since:
            slots.append(Slot(issue, before, issue - dt.timedelta(days=1)))
    return slots


def next_fire(schedule: str, after: dt.datetime, timezone: str) -> dt.datetime:
    """The next instant (UTC, aware) the global run schedule fires after ``after``.

    The expression is evaluated on local wall time in ``timezone``; croniter handles
    the DST gap and overlap, and the billing itself never depends on the fire time,
    only on the calendar date it yields.
    """
    local = after.astimezone(ZoneInfo(timezone))
    fire = croniter(schedule, local).get_next(dt.datetime)
    return fire.astimezone(dt.UTC)
