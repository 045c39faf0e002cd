"""How a refund is taken out of a payment (``payment refund``): pure, no database.

A payment's money sits in two places: its unallocated rest (client credit) and its
allocations to invoices. A refund takes the credit first, since nothing is owed
against it, then undoes allocations newest first, so the invoice paid last is the
one reopened. Each undone share raises that invoice's balance again; its status
then follows the balance (``open`` or ``partial``), credit notes on it stay.

Allocation rows are reduced, and deleted when their whole share is undone: an
allocation's amount stays > 0, and for every payment
``Σ allocations + unallocated + refunded == amount`` holds before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Share:
    """One allocation of the payment: its row id, the invoice it pays, its amount."""

    allocation_id: int
    invoice_id: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Undo:
    """Part or all of an allocation given back: ``remaining`` 0 means delete the row."""

    allocation_id: int
    invoice_id: int
    amount: Decimal
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class RefundPlan:
    amount: Decimal
    from_credit: Decimal
    undone: tuple[Undo, ...]


def refundable(amount: Decimal, refunded: Decimal, pending: Decimal = Decimal(0)) -> Decimal:
    """What may still be refunded of a payment: its amount less what was refunded and
    what is being refunded (pending gateway refunds)."""
    return amount - refunded - pending


def refund_problem(requested: Decimal, available: Decimal) -> str | None:
    """Why ``requested`` cannot be refunded when ``available`` is left; None when it can."""
    if available <= 0:
        return "the payment is refunded in full already"
    if requested <= 0:
        return f"amount must be greater than 0, got {requested}"
    if requested > available:
        return f"amount {requested} is more than the {available} left to refund"
    return None


def plan_refund(amount: Decimal, unallocated: Decimal, shares: list[Share]) -> RefundPlan:
    """Split ``amount`` into the payment's credit first, then its allocations newest
    first (the highest allocation id). ``amount`` must be at most the credit plus the
    allocations (see :func:`refund_problem`)."""
    from_credit = min(amount, max(unallocated, Decimal(0)))
    left = amount - from_credit
    undone = []
    for share in sorted(shares, key=lambda s: s.allocation_id, reverse=True):
        if left <= 0:
            break
        taken = min(left, share.amount)
        undone.append(Undo(share.allocation_id, share.invoice_id, taken, share.amount - taken))
        left -= taken
    if left > 0:
        raise ValueError(f"refund {amount} exceeds the payment's credit and allocations")
    return RefundPlan(amount, from_credit, tuple(undone))


def reopened_status(total: Decimal, balance: Decimal) -> str:
    """An invoice's status after part of its payment is given back: ``partial`` while
    something (another payment, a credit note) still covers it, else ``open``; ``paid``
    only if nothing is owed (never after a refund of a positive share)."""
    if balance <= 0:
        return "paid"
    return "partial" if balance < total else "open"
