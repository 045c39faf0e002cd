"""Which billing date bills each billable item (R-RUN-3, R-RUN-4, R-RUN-13, R-RUN-16).

Pure: the caller loads an owner's unbilled items with the day each becomes ready,
the owner's billing dates and what is already invoiced; this module decides the
invoice each item goes on. A run issues exactly this plan and a dry run shows it,
so the two cannot differ. The rules are written out in ``docs/billing-rules.md``.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from billingd.domain.schedule import invoice_day_slots

ONE_DAY = dt.timedelta(days=1)

Group = int | None  # a bill group id; None for a reseller (no bill groups)


@dataclass(frozen=True, slots=True)
class Ready:
    """A billable item, its bill group and the day it becomes ready to bill.

    ``own_date`` marks a contract cycle of an owner billed per cycle: it is invoiced
    on its own billing day even when that day already has an invoice (an item added
    later the same day), because exactly-once holds per item, not per day.
    """

    key: Hashable
    group: Group
    ready: dt.date
    own_date: bool = False


@dataclass
class PlannedInvoice:
    """One invoice of the plan: a billing date, a bill group and the items it bills."""

    billing_date: dt.date
    group: Group
    keys: list[Hashable] = field(default_factory=list)
    previous_date: dt.date | None = None  # the billing date before this one, for late labels
    period: tuple[dt.date, dt.date] | None = None  # invoice days: the period it covers


@dataclass
class Plan:
    invoices: list[PlannedInvoice]


def first_of_month_after(day: dt.date) -> dt.date:
    """The 1st of the month after ``day``'s month."""
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def first_of_month_on_or_after(day: dt.date) -> dt.date:
    return day if day.day == 1 else first_of_month_after(day)


def _collect(
    assigned: dict[tuple[dt.date, Group], PlannedInvoice], date: dt.date, item: Ready
) -> None:
    planned = assigned.setdefault((date, item.group), PlannedInvoice(date, item.group))
    planned.keys.append(item.key)


def plan_invoice_days(
    days: tuple[int, ...],
    items: Iterable[Ready],
    as_of: dt.date,
    invoiced: set[tuple[Group, dt.date]],
) -> Plan:
    """An owner with invoice days: each item goes on the first invoice day on or after
    the day it is ready that has no scheduled invoice of its bill group yet (R-RUN-3).

    A period that was invoiced is never billed again, so what arrives late goes on the
    next one (R-RUN-13); a period that passed with nothing due is still open, so an
    item ready by then is invoiced for it by the next run (R-RUN-2).
    """
    items = list(items)
    if not items:
        return Plan([])
    since = min(i.ready for i in items) - ONE_DAY
    slots = invoice_day_slots(days, since, as_of)
    dates = [s.issue_date for s in slots]
    assigned: dict[tuple[dt.date, Group], PlannedInvoice] = {}
    for item in items:
        position = bisect.bisect_left(dates, item.ready)
        while position < len(dates) and (item.group, dates[position]) in invoiced:
            position += 1
        if position < len(dates):
            _collect(assigned, dates[position], item)
    invoices = sorted(assigned.values(), key=lambda p: (p.billing_date, p.group or 0))
    periods = {s.issue_date: s for s in slots}
    for planned in invoices:
        slot = periods[planned.billing_date]
        planned.previous_date = slot.period_start
        planned.period = (slot.period_start, slot.period_end)
    return Plan(invoices)


def plan_per_cycle(
    items: Iterable[Ready],
    as_of: dt.date,
    cycle_dates: dict[Group, Sequence[dt.date]],
    invoiced: set[tuple[Group, dt.date]],
) -> Plan:
    """An owner billed per contract cycle (R-RUN-4, R-RUN-16).

    Its billing dates are its cycles' billing days (``cycle_dates``, sorted, per bill
    group) and the 1st of every month. A cycle is invoiced on its own billing day;
    usage and charges on the first billing date on or after the day they are ready
    that has no scheduled invoice of their bill group yet (``invoiced``).
    """
    by_date: dict[tuple[dt.date, Group], PlannedInvoice] = {}
    found: dict[tuple[dt.date, Group], dt.date] = {}  # many records share a ready day
    for item in items:
        if item.own_date:
            date = item.ready
        else:
            date = found.get((item.ready, item.group))
            if date is None:
                dates = cycle_dates.get(item.group, ())
                date = next_open_date(item.ready, dates, item.group, invoiced)
                found[item.ready, item.group] = date
        if date <= as_of:
            _collect(by_date, date, item)
    invoices = sorted(by_date.values(), key=lambda p: (p.billing_date, p.group or 0))
    for planned in invoices:
        planned.previous_date = previous_billing_date(
            planned.billing_date, cycle_dates.get(planned.group, ())
        )
    return Plan(invoices)


def next_open_date(
    ready: dt.date,
    dates: Sequence[dt.date],
    group: Group,
    invoiced: set[tuple[Group, dt.date]],
) -> dt.date:
    """The first billing date on or after ``ready`` with no scheduled invoice yet."""
    day = ready
    while True:
        position = bisect.bisect_left(dates, day)
        candidate = first_of_month_on_or_after(day)
        if position < len(dates):
            candidate = min(candidate, dates[position])
        if (group, candidate) not in invoiced:
            return candidate
        day = candidate + ONE_DAY


def previous_billing_date(date: dt.date, dates: Sequence[dt.date]) -> dt.date:
    """The billing date before ``date`` (a cycle's billing day or a 1st)."""
    position = bisect.bisect_left(dates, date)
    first = date.replace(day=1)
    if first == date:
        first = (date - ONE_DAY).replace(day=1)
    if position > 0:
        return max(first, dates[position - 1])
    return first
