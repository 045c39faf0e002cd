"""A clock the oracle moves by hand: billingd.clock's ``Clock`` protocol (``now()``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


class OracleClock:
    """Reads one instant until moved, and only moves forward (like ``clock: test``,
    without the database row: each test owns its clock)."""

    is_test = False  # not the daemon's stored test clock

    def __init__(self, instant: dt.datetime) -> None:
        self.instant = instant

    def now(self) -> dt.datetime:
        return self.instant

    def set(self, instant: dt.datetime) -> dt.datetime:
        assert instant >= self.instant, "the oracle's clock only moves forward"
        self.instant = instant
        return instant


def local(
    day: dt.date, timezone: str, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    """The UTC instant of a wall-clock time in a timezone."""
    wall = dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=ZoneInfo(timezone))
    return wall.astimezone(dt.UTC)
