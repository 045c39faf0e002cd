"""When an idle queue worker wakes next: at the next due row, else the fallback poll.

The document worker and the outbox worker are woken in-process by the daemon's events
(``document.queued``, ``outbox.queued``, ``document.rendered``) and by the scheduler's
re-checks (a move of the test clock, a reload). Between those they sleep until the
first of their rows that becomes due by itself: a retry whose backoff ends (on the
daemon's clock), or a claim of another process whose lease lapses (real time). Work
queued by another process on the same database (a second daemon on PostgreSQL) sends
no event here: :data:`FALLBACK_SECONDS` bounds how late it is seen.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import fn

from billingd.db.models import utcnow
from billingd.services.context import ServiceContext

FALLBACK_SECONDS = 30.0
"""The longest an idle worker sleeps without being woken: how late it sees work that
another process queued on the database (it also bounds a jump of the system clock)."""
ERROR_SECONDS = 2.0
"""The pause after a worker's step failed (the database was busy or gone)."""


def _earliest(column: Any, condition: Any) -> dt.datetime | None:
    return column.model.select(fn.MIN(column)).where(condition).scalar()


def seconds_until_due(
    ctx: ServiceContext,
    retry_at: Any,
    waiting: Any,
    claimed_at: Any,
    busy: Any,
    lease: dt.timedelta,
) -> float:
    """Seconds until a row not due now becomes due, at most :data:`FALLBACK_SECONDS`.

    ``retry_at`` of the rows matching ``waiting`` is on the daemon's clock: with the
    test clock such a row only becomes due when the clock is moved, which wakes the
    worker, so it sets no time. ``claimed_at`` of the rows matching ``busy`` is real
    time; their claim lapses ``lease`` after it. Rows due already are not looked at
    (the worker left them on purpose, or claims them on its next step).
    """
    seconds = FALLBACK_SECONDS
    if not getattr(ctx.clock, "is_test", False):
        now = ctx.now_utc()
        retry = _earliest(retry_at, waiting & (retry_at > now))
        if retry is not None:
            seconds = min(seconds, (retry - now).total_seconds())
    real_now = utcnow()
    claim = _earliest(claimed_at, busy & (claimed_at > real_now - lease))
    if claim is not None:
        seconds = min(seconds, (claim + lease - real_now).total_seconds())
    return max(seconds, 0.0)
