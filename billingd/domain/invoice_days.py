"""Client invoice days such as ``1,15`` (R-RUN-3)."""

from __future__ import annotations

import calendar
import datetime as dt


def parse_invoice_days(text: str) -> tuple[int, ...]:
    """Sorted distinct days 1..31 from a comma list; empty text means manual only."""
    days = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if not (part.isascii() and part.isdigit()) or not 1 <= int(part) <= 31:
            raise ValueError(f"invoice day {part!r} is not a day of the month (1-31)")
        days.add(int(part))
    return tuple(sorted(days))


def clamp_day(year: int, month: int, day: int) -> dt.date:
    """The given day of a month, or its last day when the month is shorter (31 → 30/29/28)."""
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))
