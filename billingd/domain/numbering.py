"""Document numbering patterns (R-NUM-1..5)."""

from __future__ import annotations

import datetime as dt
import re

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
    values = {
        "year": f"{issue_date.year:04d}",
        "mon": f"{issue_date.month:02d}",
        "mday": f"{issue_date.day:02d}",
        "num": str(num),
    }
    return _FIELD_RE.sub(lambda m: values[m.group(1)], pattern)


def sequence_key(policy: str, issue_date: dt.date) -> str:
    """The sequence a number is drawn from: one forever, per year or per month (R-NUM-4)."""
    if policy == "yearly":
        return f"{issue_date.year:04d}"
    if policy == "monthly":
        return f"{issue_date.year:04d}-{issue_date.month:02d}"
    return ""
