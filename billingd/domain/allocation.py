"""Which open invoices a payment pays, in which order (R-PAY-2)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

POLICIES = ("oldest_first", "due_date", "target_only")


@dataclass(frozen=True, slots=True)
class OpenItem:
    id: int
    issue_date: dt.date
    due_date: dt.date
    balance: Decimal
    number: str = ""

    @property
    def order(self) -> tuple[object, ...]:
        """Issue date, then number in natural order (``9/2026`` before ``10/2026``)."""
        parts = re.split(r"(\d+)", self.number)
        natural = tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)
        return (self.issue_date, natural, self.id)


def allocate_payment(
    amount: Decimal, items: list[OpenItem], target_id: int | None, policy: str
) -> tuple[list[tuple[int, Decimal]], Decimal]:
    """Split ``amount`` over open items; return ``[(id, share)]`` and the remainder (credit).

    The target is paid first, up to its balance; then, unless the policy is
    ``target_only``, the others oldest first (issue date, then number) or by due date.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown allocation policy {policy!r}")
    target = [i for i in items if i.id == target_id]
    others = [i for i in items if i.id != target_id]
    if policy == "target_only":
        others = []
    elif policy == "due_date":
        others.sort(key=lambda i: (i.due_date, i.order))
    else:
        others.sort(key=lambda i: i.order)
    shares = []
    left = amount
    for item in (*target, *others):
        if left <= 0:
            break
        share = min(left, item.balance)
        if share > 0:
            shares.append((item.id, share))
            left -= share
    return shares, left


def settled_status(total: Decimal, balance: Decimal) -> str:
    """``paid`` at zero balance, ``partial`` when something was paid, else ``open`` (R-INV-7)."""
    if balance <= 0:
        return "paid"
    if balance < total:
        return "partial"
    return "open"
