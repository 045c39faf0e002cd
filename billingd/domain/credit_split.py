"""How a credit note's amount splits over the credited invoice's VAT rates (R-CN-2).

A credit note gives back part of an invoice, so it gives back each VAT rate's part:
the gross amount is split over the invoice's rates in proportion to each rate's gross
(net + tax) share of the invoice total, to the currency's minor unit with the
largest-remainder method (the parts add up to the amount exactly), and inside each
part net and tax are extracted at that rate (net + tax = part, as for R-INV-5).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from billingd.domain.totals import allocate, split_gross


@dataclass(frozen=True, slots=True)
class CreditPart:
    """The share of a credit note at one VAT category and rate."""

    rate: Decimal
    amount: Decimal
    net: Decimal
    tax: Decimal
    category: str = "S"


@dataclass(frozen=True, slots=True)
class CreditSplit:
    """A credit note's amount, net and tax, and its parts per rate (ascending rate)."""

    amount: Decimal
    net: Decimal
    tax: Decimal
    parts: tuple[CreditPart, ...]

    def breakdown(self) -> list[dict[str, str]]:
        """The parts in the key shape of an invoice's ``tax_breakdown``."""
        return [
            {
                "rate": rate_text(p.rate),
                "net": str(p.net),
                "tax": str(p.tax),
                "category": p.category,
            }
            for p in self.parts
        ]


def rate_text(rate: Decimal) -> str:
    """A tax rate as plain decimal text without trailing zeros: ``19``, ``7.7``, ``20``."""
    text = format(rate.normalize(), "f")
    return text or "0"


GroupKey = tuple[Decimal, str]  # (rate, VAT category)


def gross_by_rate(
    lines: Iterable[tuple[Decimal, Decimal, Decimal, str]],
) -> dict[GroupKey, Decimal]:
    """Σ (net + tax) per (rate, category) of an invoice's lines given as
    ``(rate, net, tax, category)``."""
    groups: dict[GroupKey, Decimal] = {}
    for rate, net, tax, category in lines:
        key = (rate.normalize(), category)
        groups[key] = groups.get(key, Decimal(0)) + net + tax
    return groups


def split_credit(amount: Decimal, currency: str, gross: dict[GroupKey, Decimal]) -> CreditSplit:
    """Split a credit of ``amount`` over the groups of ``gross`` ((rate, category) → the
    invoice's gross in that group, see :func:`gross_by_rate`).

    A group whose gross is not positive (a discount larger than the charges at its rate)
    takes no part. Groups whose part rounds to nothing are left out of the parts.
    """
    keys = sorted(key for key, value in gross.items() if value > 0)
    if not keys:
        raise ValueError("the invoice has no positive amount at any tax rate to credit")
    if amount < 0:
        raise ValueError(f"a credit amount cannot be negative: {amount}")
    shares = allocate(amount, [gross[key] for key in keys], currency)
    parts = []
    for (rate, category), share in zip(keys, shares, strict=True):
        if share:
            net, tax = split_gross(share, rate, currency)
            parts.append(CreditPart(rate, share, net, tax, category))
    net = sum((p.net for p in parts), Decimal(0))
    tax = sum((p.tax for p in parts), Decimal(0))
    return CreditSplit(amount, net, tax, tuple(parts))
