"""The daemon's notion of now: the system clock, or a stored test clock (R-RUN-15)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol
from zoneinfo import ZoneInfo

from billingd.db.connection import write_transaction
from billingd.db.models import ClockState

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    is_test = False

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class TestClock:
    """A stored instant that only moves when an operator moves it (``clock: test``).

    The instant lives in the database, so it survives restarts and is shared by the
    daemons of one database; it starts at the system time of the first use.
    """

    is_test = True
    __test__ = False  # not a pytest test class

    def now(self) -> dt.datetime:
        row = ClockState.select().first()
        if row is None:
            with write_transaction():
                row = ClockState.select().first() or ClockState.create(
                    now=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
                )
        return row.now.replace(tzinfo=dt.UTC)

    def set(self, instant: dt.datetime) -> dt.datetime:
        """Move to ``instant``; the test clock never goes backwards."""
        current = self.now()
        target = instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)
        if target < current:
            raise ValueError(f"the test clock only moves forward (now {current.isoformat()})")
        with write_transaction():
            ClockState.update(now=target.astimezone(dt.UTC).replace(tzinfo=None)).execute()
        return target.astimezone(dt.UTC)

    def advance(self, duration: str) -> dt.datetime:
        return self.set(self.now() + parse_duration(duration))


def parse_duration(text: str) -> dt.timedelta:
    """``31d``, ``12h``, ``2w``, ``90m``, ``30s``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 31d, 12h, 2w, 90m)")
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def today(clock: Clock, timezone: str) -> dt.date:
    """The calendar date now in a timezone (R-TIME-1)."""
    return clock.now().astimezone(ZoneInfo(timezone)).date()
