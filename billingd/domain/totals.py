"""Line nets, the VAT breakdown and totals (R-MONEY-2).

Tax is computed once per rate over the sum of the nets at that rate, then spread
back over the lines with the largest-remainder method, so Σ line taxes equals the
breakdown exactly and total = Σ nets + Σ taxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from billingd.money import quantize, quantum


@dataclass(frozen=True, slots=True)
class TaxGroup:
    """One row of the VAT breakdown: a category at a rate (EN 16931 BG-23, R-VAT-1)."""

    rate: Decimal
    net: Decimal
    tax: Decimal
    category: str = "S"


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    breakdown: tuple[TaxGroup, ...]
    line_taxes: tuple[Decimal, ...]


def line_net(quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    """Quantity × unit price, rounded half up to the currency."""
    return quantize(quantity * unit_price, currency)


def tax_on(net: Decimal, rate: Decimal, currency: str) -> Decimal:
    return quantize(net * rate / Decimal(100), currency)


def allocate(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """Split ``total`` over ``weights`` in proportion, to the minor unit, summing exactly."""
    if not weights:
        return []
    step = quantum(currency)
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        shares = [Decimal(0)] * len(weights)
        shares[0] = total
        return shares
    raw = [total * w / weight_sum for w in weights]
    floors = [r.quantize(step, rounding=ROUND_DOWN) for r in raw]
    leftover = int((total - sum(floors, Decimal(0))) / step)
    order = sorted(range(len(raw)), key=lambda i: (-(abs(raw[i] - floors[i])), i))
    sign = 1 if leftover >= 0 else -1
    for i in order[: abs(leftover)]:
        floors[i] += sign * step
    return floors


def compute_totals(
    nets: list[Decimal],
    rates: list[Decimal],
    currency: str,
    categories: list[str] | None = None,
) -> Totals:
    """The invoice totals for lines given as parallel lists of nets, tax rates and VAT
    categories (all ``S``/``Z`` by their rate when not given): tax per (category, rate)."""
    if categories is None:
        categories = ["S" if rate > 0 else "Z" for rate in rates]
    groups_of: dict[tuple[Decimal, str], list[int]] = {}
    for index, (rate, category) in enumerate(zip(rates, categories, strict=True)):
        groups_of.setdefault((rate.normalize(), category), []).append(index)
    line_taxes = [Decimal(0)] * len(nets)
    groups = []
    for rate, category in sorted(groups_of):
        members = groups_of[(rate, category)]
        group_net = sum((nets[i] for i in members), Decimal(0))
        group_tax = tax_on(group_net, rate, currency)
        shares = allocate(group_tax, [abs(nets[i]) for i in members], currency)
        for i, share in zip(members, shares, strict=True):
            line_taxes[i] = share
        groups.append(TaxGroup(rate, group_net, group_tax, category))
    subtotal = quantize(sum(nets, Decimal(0)), currency)
    tax = quantize(sum((g.tax for g in groups), Decimal(0)), currency)
    return Totals(subtotal, tax, subtotal + tax, tuple(groups), tuple(line_taxes))


def split_gross(gross: Decimal, rate: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """Net and tax inside a gross amount, so that net + tax == gross exactly (R-INV-5).

    Prefers a net whose own tax (as :func:`compute_totals` would compute it) lands on
    the gross; where rounding makes no such net exist, the tax is the remainder.
    """
    estimate = quantize(gross * Decimal(100) / (Decimal(100) + rate), currency)
    step = quantum(currency)
    for offset in (0, -1, 1, -2, 2):
        net = estimate + offset * step
        if net + tax_on(net, rate, currency) == gross:
            return net, gross - net
    return estimate, gross - estimate
