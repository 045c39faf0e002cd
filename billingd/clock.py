"""The daemon's notion of now: the system clock, or a stored test clock (R-RUN-15)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol
from zoneinfo import ZoneInfo

from billingd.db.connection import write_transaction
from billingd.db.models import ClockState, CreditNote, Invoice
from billingd.domain.bounds import DATES

_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhdw])\s*$")  # digits 0-9, not any script
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LONGEST = dt.datetime.combine(DATES.high, dt.time.max) - dt.datetime.combine(DATES.low, dt.time())


class ClockRefused(ValueError):
    """A move of the test clock that R-RUN-15 forbids (backwards once documents exist)."""


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    is_test = False

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that always reads one instant (UTC when naive): a scheduled fire the test
    clock moved past, performed at its own time (R-RUN-15), or a test that bills "as
    of" a day. Not the operator's test clock: nothing moves it."""

    is_test = False

    def __init__(self, instant: dt.datetime) -> None:
        aware = instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)
        self.instant = aware.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self.instant

    def __repr__(self) -> str:
        return f"FixedClock({self.instant.isoformat()})"


def frozen(clock: Clock) -> FixedClock:
    """``clock``'s present, held still: a run's batch, one transaction, bills as of one
    instant (and reads the test clock once, not once per invoice)."""
    held = FixedClock(clock.now())
    held.is_test = getattr(clock, "is_test", False)
    return held


class TestClock:
    """A stored instant that only moves when an operator moves it (``clock: test``).

    The instant lives in the database, so it survives restarts and is shared by the
    daemons of one database; it starts at the system time of the first use. It stays
    within the days of :data:`billingd.control.params.DATES`. On a fresh database it
    may move to any instant, also backwards, until the first document (an invoice
    number or a credit note) is issued; from then on it only moves forward (R-RUN-15).
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
        """Move to ``instant``: ValueError when it is out of bounds, ClockRefused when it
        is backwards once a document was issued."""
        target = (instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        problem = DATES.problem(target.date())
        if problem:
            raise ValueError(f"the test clock {problem} (the day in UTC)")
        current = self.now()
        with write_transaction():
            if target < current and documents_issued():
                raise ClockRefused(
                    "the test clock only moves forward once a document was issued "
                    f"(now {current.isoformat().replace('+00:00', 'Z')})"
                )
            ClockState.update(now=target.replace(tzinfo=None)).execute()
        return target

    def advance(self, duration: str) -> dt.datetime:
        return self.set(self.now() + parse_duration(duration))


def documents_issued() -> bool:
    """Whether any invoice got a number or any credit note exists (R-RUN-15)."""
    return (
        Invoice.select(Invoice.id).where(Invoice.number.is_null(False)).exists()
        or CreditNote.select(CreditNote.id).exists()
    )


def parse_duration(text: str) -> dt.timedelta:
    """``31d``, ``12h``, ``2w``, ``90m``, ``30s``; at most the span of the clock's days."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 31d, 12h, 2w, 90m)")
    amount, unit = int(match.group(1)), match.group(2)
    if amount * _SECONDS[unit] > _LONGEST.total_seconds():
        raise ValueError(f"the duration {text.strip()!r} is longer than the test clock's range")
    return dt.timedelta(**{_UNITS[unit]: amount})


def today(clock: Clock, timezone: str) -> dt.date:
    """The calendar date now in a timezone (R-TIME-1)."""
    return clock.now().astimezone(ZoneInfo(timezone)).date()
