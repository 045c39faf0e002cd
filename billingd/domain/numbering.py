"""Document numbering patterns and sequences (R-NUM-1..6)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

FIELDS = ("%year%", "%mon%", "%mday%", "%num%")
RESET_POLICIES = ("never", "yearly", "monthly")
_FIELD_RE = re.compile(r"%(year|mon|mday|num)%")


class PatternError(ValueError):
    """A numbering pattern that cannot produce unique numbers."""


def check_pattern(pattern: str) -> str:
    """Return the pattern if it contains ``%num%`` exactly once (R-NUM-2)."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise PatternError("numbering pattern must not be empty")
    count = pattern.count("%num%")
    if count == 0:
        raise PatternError(f"numbering pattern {pattern!r} has no %num% field")
    if count > 1:
        raise PatternError(f"numbering pattern {pattern!r} has %num% more than once")
    return pattern


def check_reset(pattern: str, policy: str) -> str:
    """A reset policy, if the pattern tells its sequences apart (R-NUM-4).

    Restarting ``%num%`` every year needs ``%year%`` in the pattern (and every month
    also ``%mon%``), or the second year would repeat the first year's numbers.
    """
    if policy not in RESET_POLICIES:
        raise PatternError(f"reset policy must be one of {', '.join(RESET_POLICIES)}")
    needed = {"yearly": ("%year%",), "monthly": ("%year%", "%mon%")}.get(policy, ())
    missing = [f for f in needed if f not in pattern]
    if missing:
        raise PatternError(
            f"reset {policy} needs {' and '.join(missing)} in the pattern {pattern!r}, "
            "or numbers would repeat"
        )
    return policy


def format_number(pattern: str, num: int, issue_date: dt.date) -> str:
    """Fill the special fields from the issue date; everything else is literal (R-NUM-1)."""
    values = {**_date_fields(issue_date), "num": str(num)}
    return _FIELD_RE.sub(lambda m: values[m.group(1)], pattern)


def _date_fields(issue_date: dt.date) -> dict[str, str]:
    return {
        "year": f"{issue_date.year:04d}",
        "mon": f"{issue_date.month:02d}",
        "mday": f"{issue_date.day:02d}",
    }


def sequence_key(policy: str, issue_date: dt.date) -> str:
    """The sequence a number is drawn from: one forever, per year or per month (R-NUM-4)."""
    if policy == "yearly":
        return f"{issue_date.year:04d}"
    if policy == "monthly":
        return f"{issue_date.year:04d}-{issue_date.month:02d}"
    return ""


def period_range(policy: str, day: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The first and last issue date of the sequence ``day`` belongs to (``None``: open)."""
    if policy == "yearly":
        return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    if policy == "monthly":
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return first, following - dt.timedelta(days=1)
    return None, None


class IssueOrderError(ValueError):
    """An issue date that would put a higher number before a lower one (R-NUM-6)."""


def check_issue_order(issue_date: dt.date, latest: dt.date | None) -> dt.date:
    """Return the issue date if no document of its sequence is dated later (R-NUM-6).

    Numbers follow issue dates: the next number of a sequence may carry the latest
    issue date of that sequence or a later one, never an earlier one.
    """
    if latest is not None and issue_date < latest:
        raise IssueOrderError(
            f"issue date {issue_date.isoformat()} is before {latest.isoformat()}, the latest "
            f"issue date already numbered in this sequence; numbers follow issue dates, "
            f"so use {latest.isoformat()} or later"
        )
    return issue_date


def number_value(pattern: str, issue_date: dt.date, number: str) -> int | None:
    """The ``%num%`` inside ``number`` if the pattern gives it on ``issue_date``, else None.

    ``format_number(pattern, n, issue_date) == number`` exactly when this returns ``n``.
    """
    fixed = _date_fields(issue_date)
    parts = _FIELD_RE.split(pattern)  # literal, field, literal, field, ...
    regex = "".join(
        re.escape(part)
        if index % 2 == 0
        else ("(0|[1-9][0-9]*)" if part == "num" else re.escape(fixed[part]))
        for index, part in enumerate(parts)
    )
    match = re.fullmatch(regex, number)
    return int(match.group(1)) if match else None


def first_free(pattern: str, issue_date: dt.date, candidate: int, issued: Iterable[str]) -> int:
    """The lowest ``%num%`` from ``candidate`` on whose number on ``issue_date`` is not
    among the ``issued`` numbers: a sequence never repeats a number, also after its
    pattern, start or reset policy changed (R-NUM-3)."""
    taken = {value for n in issued if (value := number_value(pattern, issue_date, n)) is not None}
    value = candidate
    while value in taken:
        value += 1
    return value
