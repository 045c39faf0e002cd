"""When a failed self-checkout charge is tried again (R-RUN-7): pure, no database.

The retry schedule is a list of days after the first failure (config
``payment_retries``, default 1, 3 and 7 days): retry *n* (1-based) is due at
``first failure + days[n-1]``. After the last retry failed nothing is due: the
invoice stays open and the notice says it was the final attempt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

DEFAULT_SCHEDULE = (1, 3, 7)
MAX_RETRIES = 30
MAX_DAYS = 365


def retry_key(invoice_id: int, retry: int) -> str:
    """The idempotency key of retry ``retry`` (1-based); each retry is a new charge."""
    return f"billingd-invoice-{invoice_id}-retry-{retry}"


def next_retry_at(
    schedule: Sequence[int], first_failure: dt.datetime, retries_done: int
) -> dt.datetime | None:
    """When the next retry is due after ``retries_done`` retries (0 after the first
    failure), or None when the schedule is exhausted."""
    if retries_done >= len(schedule):
        return None
    return first_failure + dt.timedelta(days=schedule[retries_done])


def schedule_problem(schedule: Sequence[object]) -> str | None:
    """Why a retry schedule is unusable; None when it is fine."""
    if len(schedule) > MAX_RETRIES:
        return f"at most {MAX_RETRIES} retries"
    previous = 0
    for days in schedule:
        if isinstance(days, bool) or not isinstance(days, int):
            return f"expected whole days, got {days!r}"
        if not 1 <= days <= MAX_DAYS:
            return f"days must be 1-{MAX_DAYS}, got {days}"
        if days <= previous:
            return f"days must increase, got {days} after {previous}"
        previous = days
    return None
