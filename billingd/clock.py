"""The daemon's notion of now: the system clock, or a stored test clock (R-RUN-15)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


def today(clock: Clock, timezone: str) -> dt.date:
    """The calendar date now in a timezone (R-TIME-1)."""
    return clock.now().astimezone(ZoneInfo(timezone)).date()
