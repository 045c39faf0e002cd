"""Manual orders: automatic invoices follow the first invoice's day (R-RUN-6, seed 002).

The cycles of a manual order stay on the contract's anchor; only the dates its
automatic invoices are generated on move: subscription from June 1, first invoice
by hand on June 3 → the July cycle is invoiced on July 3.
"""

from __future__ import annotations

import datetime as dt

from billingd.domain.invoice_days import clamp_day

WEEKDAY_CYCLES = {"day": 1, "week": 7}


def invoice_day_shift(
    billing_day: dt.date, first_billing_day: dt.date, first_invoice: dt.date, cycle: str
) -> dt.date:
    """The day a cycle due on ``billing_day`` is invoiced automatically.

    Monthly and yearly cycles: the first day on or after ``billing_day`` with the first
    invoice's day of the month (31 → the month's last day). Daily and weekly cycles:
    the first invoice's offset from its cycle's billing day, within one cycle length.
    """
    if cycle in WEEKDAY_CYCLES:
        offset = (first_invoice - first_billing_day).days % WEEKDAY_CYCLES[cycle]
        return billing_day + dt.timedelta(days=offset)
    day = clamp_day(billing_day.year, billing_day.month, first_invoice.day)
    if day >= billing_day:
        return day
    month_after = (billing_day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return clamp_day(month_after.year, month_after.month, first_invoice.day)
