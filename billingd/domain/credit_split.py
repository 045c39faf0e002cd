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
    """The share of a credit note at one VAT rate."""

    rate: Decimal
    amount: Decimal
    net: Decimal
    tax: Decimal


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
            {"rate": rate_text(p.rate), "net": str(p.net), "tax": str(p.tax)} for p in self.parts
        ]


def rate_text(rate: Decimal) -> str:
    """A tax rate as plain decimal text without trailing zeros: ``19``, ``7.7``, ``20``."""
    text = format(rate.normalize(), "f")
    return text or "0"


def gross_by_rate(lines: Iterable[tuple[Decimal, Decimal, Decimal]]) -> dict[Decimal, Decimal]:
    """Σ (net + tax) per rate of an invoice's lines given as ``(rate, net, tax)``."""
    groups: dict[Decimal, Decimal] = {}
    for rate, net, tax in lines:
        key = rate.normalize()
        groups[key] = groups.get(key, Decimal(0)) + net + tax
    return groups


def split_credit(amount: Decimal, currency: str, gross: dict[Decimal, Decimal]) -> CreditSplit:
    """Split a credit of ``amount`` over the rates of ``gross`` (rate → the invoice's gross
    at that rate, see :func:`gross_by_rate`).

    A rate whose gross is not positive (a discount larger than the charges at its rate)
    takes no part. Rates whose part rounds to nothing are left out of the parts.
    """
    rates = sorted(rate for rate, value in gross.items() if value > 0)
    if not rates:
        raise ValueError("the invoice has no positive amount at any tax rate to credit")
    if amount < 0:
        raise ValueError(f"a credit amount cannot be negative: {amount}")
    shares = allocate(amount, [gross[rate] for rate in rates], currency)
    parts = []
    for rate, share in zip(rates, shares, strict=True):
        if share:
            net, tax = split_gross(share, rate, currency)
            parts.append(CreditPart(rate, share, net, tax))
    net = sum((p.net for p in parts), Decimal(0))
    tax = sum((p.tax for p in parts), Decimal(0))
    return CreditSplit(amount, net, tax, tuple(parts))
