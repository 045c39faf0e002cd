"""Collecting what is billable for an owner and a period (R-INV-1..3).

Pure reads: the result names the rows an invoice would claim; nothing is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from billingd.db.models import (
    BilledCycle,
    Client,
    Contract,
    PendingCharge,
    PriceOverride,
    Reseller,
    UsageRecord,
)
from billingd.domain.cycles import Cycle, clip, cycles
from billingd.domain.periods import period_bounds
from billingd.domain.totals import line_net
from billingd.money import quantize

BILLABLE_CONTRACT_STATUSES = ("active", "cancelled")


@dataclass
class DraftLine:
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    net: Decimal
    tax_rate: Decimal
    unit: str = ""
    contract_id: int | None = None
    cycle: Cycle | None = None


@dataclass
class BillableItems:
    """Lines for a period and the rows that billing them claims."""

    lines: list[DraftLine] = field(default_factory=list)
    usage_ids: list[int] = field(default_factory=list)
    charge_ids: list[int] = field(default_factory=list)
    override_ids: list[int] = field(default_factory=list)


def default_tax_rate(owner: Client | Reseller) -> Decimal:
    return owner.tax_rate if owner.tax_rate is not None else owner.enterprise.tax_rate


def owner_contracts(owner: Client | Reseller) -> list[Contract]:
    column = Contract.client if isinstance(owner, Client) else Contract.reseller
    return list(
        Contract.select()
        .where((column == owner) & Contract.status.in_(BILLABLE_CONTRACT_STATUSES))
        .order_by(Contract.id)
    )


def due_cycles(contract: Contract, start: dt.date, end: dt.date) -> list[tuple[Cycle, Cycle]]:
    """Cycles of a contract whose billing day falls in ``start..end``, not billed yet.

    The billing day is the cycle start for ``advance`` and the cycle end for
    ``arrears`` (R-RUN-4); cycles are clipped to the contract's start and end dates.
    """
    billed = {
        b.cycle_start
        for b in BilledCycle.select(BilledCycle.cycle_start).where(BilledCycle.contract == contract)
    }
    found = []
    for whole in cycles(contract.anchor_date, contract.cycle, contract.interval, end):
        part = clip(whole, contract.start_date, contract.end_date)
        if part is None:
            continue
        day = part.start if contract.timing == "advance" else part.end
        if start <= day <= end and part.start not in billed:
            found.append((whole, part))
    return found


def _cycle_line(contract: Contract, whole: Cycle, part: Cycle, currency: str) -> DraftLine:
    """The charge for one cycle, pro rata by days when the contract covers only part of it."""
    days_total = (whole.end - whole.start).days + 1
    days_billed = (part.end - part.start).days + 1
    net = line_net(contract.quantity, contract.unit_price, currency)
    description = f"{contract.description} ({part.start} – {part.end})"
    if days_billed < days_total:
        net = quantize(net * days_billed / days_total, currency)
        description += f", pro rata {days_billed}/{days_total} days"
    return DraftLine(
        kind="contract",
        description=description,
        quantity=contract.quantity,
        unit_price=contract.unit_price,
        net=net,
        tax_rate=contract.tax_rate,
        contract_id=contract.id,
        cycle=part,
    )


def _override_line(
    contract: Contract, base: Decimal, currency: str
) -> tuple[DraftLine, int] | None:
    override = (
        PriceOverride.select()
        .where((PriceOverride.contract == contract) & (PriceOverride.status == "active"))
        .order_by(PriceOverride.id.desc())
        .first()
    )
    if override is None:
        return None
    difference = quantize(override.final_amount - base, currency)
    if difference == 0:
        return None
    label = "Price adjustment" if difference > 0 else "Discount"
    line = DraftLine(
        kind="adjustment",
        description=f"{label}: {contract.description}",
        quantity=Decimal(1),
        unit_price=difference,
        net=difference,
        tax_rate=contract.tax_rate,
        contract_id=contract.id,
    )
    return line, override.id


def _usage_lines(
    client_ids: list[int], lo: dt.datetime, hi: dt.datetime, rate: Decimal, currency: str
) -> tuple[list[DraftLine], list[int]]:
    """One line per destination group (and unit): count, quantity, amount (R-INV-2)."""
    records = (
        UsageRecord.select()
        .where(
            UsageRecord.client.in_(client_ids)
            & UsageRecord.invoice.is_null()
            & (UsageRecord.occurred_at >= lo)
            & (UsageRecord.occurred_at < hi)
        )
        .order_by(UsageRecord.destination_group, UsageRecord.id)
    )
    groups: dict[tuple[str, str], list[Decimal]] = {}
    ids = []
    for record in records:
        count_qty_amount = groups.setdefault(
            (record.destination_group, record.unit), [Decimal(0)] * 3
        )
        count_qty_amount[0] += 1
        count_qty_amount[1] += record.quantity
        count_qty_amount[2] += record.amount
        ids.append(record.id)
    lines = []
    for (group, unit), (count, quantity, amount) in sorted(groups.items()):
        net = quantize(amount, currency)
        unit_price = (net / quantity).quantize(Decimal("0.000001")) if quantity else net
        lines.append(
            DraftLine(
                kind="usage",
                description=f"{group} ({count} records)",
                quantity=quantity,
                unit=unit,
                unit_price=unit_price,
                net=net,
                tax_rate=rate,
            )
        )
    return lines, ids


def _charge_lines(client: Client, end: dt.date, rate: Decimal) -> tuple[list[DraftLine], list[int]]:
    charges = (
        PendingCharge.select()
        .where(
            (PendingCharge.client == client)
            & (PendingCharge.status == "pending")
            & (PendingCharge.schedule_date.is_null() | (PendingCharge.schedule_date <= end))
        )
        .order_by(PendingCharge.id)
    )
    lines, ids = [], []
    for charge in charges:
        lines.append(
            DraftLine(
                kind="charge",
                description=charge.description,
                quantity=Decimal(1),
                unit_price=charge.amount,
                net=charge.amount,
                tax_rate=charge.contract.tax_rate if charge.contract else rate,
                contract_id=charge.contract_id,
            )
        )
        ids.append(charge.id)
    return lines, ids


def collect_items(owner: Client | Reseller, start: dt.date, end: dt.date) -> BillableItems:
    """Everything billable for ``owner`` in ``start..end`` (whole end day, R-TIME-2)."""
    currency = owner.currency
    rate = default_tax_rate(owner)
    items = BillableItems()
    for contract in owner_contracts(owner):
        due = due_cycles(contract, start, end)
        for whole, part in due:
            items.lines.append(_cycle_line(contract, whole, part, currency))
        if due:
            base = line_net(contract.quantity, contract.unit_price, currency)
            override = _override_line(contract, base, currency)
            if override is not None:
                items.lines.append(override[0])
                items.override_ids.append(override[1])
    if isinstance(owner, Client):
        charge_lines, items.charge_ids = _charge_lines(owner, end, rate)
        items.lines.extend(charge_lines)
        client_ids = [owner.id]
    else:
        client_ids = [c.id for c in Client.select(Client.id).where(Client.reseller == owner)]
    lo, hi = period_bounds(start, end, owner.enterprise.timezone)
    usage_lines, items.usage_ids = _usage_lines(client_ids, lo, hi, rate, currency)
    items.lines.extend(usage_lines)
    return items
