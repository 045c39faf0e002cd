"""The calendar behind the dashboard's reports: months for revenue, buckets for aging.

Revenue is reported per calendar month: :func:`last_months` lists the ``count`` months
ending with ``today``'s, oldest first, as ``YYYY-MM`` keys, which is also how a date's
month is named (:func:`month_key`).

Aging sorts open balances by how many days past their due date they are on ``today``:
``current`` (not yet due, or due today), ``1-30``, ``31-60``, ``61-90`` and ``90+``.
A bucket is a range of due dates, so a database can sort invoices with plain date
comparisons (:func:`aging_bounds`); :func:`aging_bucket` says the same for one date.
"""

from __future__ import annotations

import datetime as dt

AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
AGING_LIMITS = (0, 30, 60, 90)
"""The most days overdue of each bucket but the last."""


def month_key(day: dt.date) -> str:
    """``2024-02`` for any day of February 2024."""
    return f"{day.year:04d}-{day.month:02d}"


def last_months(today: dt.date, count: int) -> list[str]:
    """The ``count`` months up to and including ``today``'s, oldest first."""
    index = today.year * 12 + today.month - 1  # months since year 0
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def first_day(month: str) -> dt.date:
    """The first day of a ``YYYY-MM`` month."""
    year, number = month.split("-")
    return dt.date(int(year), int(number), 1)


def aging_bounds(today: dt.date) -> list[tuple[str, dt.date | None]]:
    """Each bucket with the earliest due date it holds (None: no limit), newest first.

    An invoice falls in the first bucket whose earliest due date is on or before its own.
    """
    bounds: list[tuple[str, dt.date | None]] = [
        (bucket, today - dt.timedelta(days=limit))
        for bucket, limit in zip(AGING_BUCKETS, AGING_LIMITS, strict=False)
    ]
    return [*bounds, (AGING_BUCKETS[-1], None)]


def aging_bucket(due_date: dt.date, today: dt.date) -> str:
    """The bucket of a balance due on ``due_date``, seen on ``today``."""
    return next(
        bucket
        for bucket, earliest in aging_bounds(today)
        if earliest is None or due_date >= earliest
    )
