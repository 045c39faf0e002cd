"""Billing periods as calendar dates in the enterprise's timezone (R-TIME-1, R-TIME-2)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def local_midnight_utc(day: dt.date, timezone: str) -> dt.datetime:
    """The UTC instant (naive) at which ``day`` begins in ``timezone``."""
    local = dt.datetime.combine(day, dt.time.min, tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def period_bounds(start: dt.date, end: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """UTC ``[from, until)`` covering ``start`` 00:00 through the whole ``end`` day.

    The upper bound is the next day's local midnight, so 23:59:59.999 on the end
    date is inside and 00:00:00 the next day is not, across DST changes too.
    """
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    return local_midnight_utc(start, timezone), local_midnight_utc(
        end + dt.timedelta(days=1), timezone
    )


def local_date(instant_utc: dt.datetime, timezone: str) -> dt.date:
    """The calendar date of a UTC instant in a timezone."""
    aware = instant_utc if instant_utc.tzinfo else instant_utc.replace(tzinfo=dt.UTC)
    return aware.astimezone(ZoneInfo(timezone)).date()
