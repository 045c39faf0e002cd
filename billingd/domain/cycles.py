"""Contract cycles: day/week/month/year × interval with kept month-end anchors (R-RUN-4)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

CYCLES = ("day", "week", "month", "year")
TIMINGS = ("advance", "arrears")


@dataclass(frozen=True, slots=True)
class Cycle:
    """One billing cycle ``start..end`` (both days included)."""

    start: dt.date
    end: dt.date


def add_months(anchor: dt.date, months: int) -> dt.date:
    """The anchor's day in a month ``months`` later, clamped to that month's length.

    Always computed from the anchor, never from the previous cycle, so Jan 31 gives
    Feb 28 (29) and then Mar 31 again.
    """
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    return dt.date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def cycle_boundary(anchor: dt.date, cycle: str, interval: int, index: int) -> dt.date:
    """The start of cycle number ``index`` (0 = the anchor itself)."""
    steps = interval * index
    if cycle == "day":
        return anchor + dt.timedelta(days=steps)
    if cycle == "week":
        return anchor + dt.timedelta(weeks=steps)
    if cycle == "month":
        return add_months(anchor, steps)
    if cycle == "year":
        return add_months(anchor, 12 * steps)
    raise ValueError(f"unknown cycle {cycle!r}; expected one of {', '.join(CYCLES)}")


def index_at(anchor: dt.date, cycle: str, interval: int, day: dt.date) -> int:
    """The number of the cycle that contains ``day`` (0 on or before the anchor)."""
    if day <= anchor:
        return 0
    if cycle in ("day", "week"):
        return (day - anchor).days // (interval * (1 if cycle == "day" else 7))
    months = (day.year - anchor.year) * 12 + day.month - anchor.month
    index = months // (interval * (12 if cycle == "year" else 1))
    while index > 0 and cycle_boundary(anchor, cycle, interval, index) > day:
        index -= 1  # the anchor's day falls later in the month than ``day``
    return index


def cycles(
    anchor: dt.date, cycle: str, interval: int, until: dt.date, since: dt.date | None = None
) -> Iterator[Cycle]:
    """Every cycle from the anchor whose start is on or before ``until``; with ``since``,
    from the cycle containing that day (the ones before it end earlier)."""
    index = index_at(anchor, cycle, interval, since) if since is not None else 0
    while True:
        start = cycle_boundary(anchor, cycle, interval, index)
        if start > until:
            return
        end = cycle_boundary(anchor, cycle, interval, index + 1) - dt.timedelta(days=1)
        yield Cycle(start, end)
        index += 1


def clip(cycle: Cycle, start: dt.date, end: dt.date | None) -> Cycle | None:
    """The part of a cycle within a contract's start and end dates, if any."""
    lo = max(cycle.start, start)
    hi = cycle.end if end is None else min(cycle.end, end)
    return Cycle(lo, hi) if lo <= hi else None


def billing_day(timing: str, part: Cycle) -> dt.date:
    """When a cycle's (billed part's) invoice is due: ``advance``, its first day;
    ``arrears``, the day after its last (R-RUN-4)."""
    return part.start if timing == "advance" else part.end + dt.timedelta(days=1)
