"""Collecting what is billable for an owner and a period (R-INV-1..3, R-RUN-13).

Pure reads: the result names the rows an invoice would claim; nothing is written.
The building blocks (contract, usage and charge lines) are shared by invoices
for a period and by scheduled runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
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
from billingd.domain.periods import local_date, period_bounds
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
    reanchor: bool = False


@dataclass
class BillableItems:
    """Lines for a period and the rows that billing them claims."""

    lines: list[DraftLine] = field(default_factory=list)
    usage_ids: list[int] = field(default_factory=list)
    charge_ids: list[int] = field(default_factory=list)
    override_ids: list[int] = field(default_factory=list)

    def extend(self, other: BillableItems) -> None:
        self.lines.extend(other.lines)
        self.usage_ids.extend(other.usage_ids)
        self.charge_ids.extend(other.charge_ids)
        self.override_ids.extend(other.override_ids)


def default_tax_rate(owner: Client | Reseller) -> Decimal:
    return owner.tax_rate if owner.tax_rate is not None else owner.enterprise.tax_rate


def owner_contracts(owner: Client | Reseller) -> list[Contract]:
    column = Contract.client if isinstance(owner, Client) else Contract.reseller
    return list(
        Contract.select()
        .where((column == owner) & Contract.status.in_(BILLABLE_CONTRACT_STATUSES))
        .order_by(Contract.id)
    )


def is_unanchored_manual(contract: Contract) -> bool:
    """A manual order before its first invoice (R-RUN-6)."""
    return contract.origin == "manual" and not contract.billed_cycles.exists()


def due_cycles(
    contract: Contract, start: dt.date, end: dt.date, *, anchor: dt.date | None = None
) -> list[tuple[Cycle, Cycle]]:
    """Cycles of a contract whose billing day falls in ``start..end``, not billed yet.

    The billing day is the cycle start for ``advance`` and the cycle end for
    ``arrears`` (R-RUN-4); cycles are clipped to the contract's start and end dates.
    Returns ``(whole cycle, billed part)`` pairs.
    """
    billed = {
        b.cycle_start
        for b in BilledCycle.select(BilledCycle.cycle_start).where(BilledCycle.contract == contract)
    }
    found = []
    first = anchor or contract.anchor_date
    for whole in cycles(first, contract.cycle, contract.interval, end, since=start):
        part = clip(whole, anchor or contract.start_date, contract.end_date)
        if part is None:
            continue
        day = part.start if contract.timing == "advance" else part.end
        if start <= day <= end and part.start not in billed:
            found.append((whole, part))
    return found


def cycle_line(contract: Contract, whole: Cycle, part: Cycle, currency: str) -> DraftLine:
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


def override_line(contract: Contract, currency: str) -> tuple[DraftLine, int] | None:
    """The adjustment or discount of an active price override (seed 003 "Edit price")."""
    override = (
        PriceOverride.select()
        .where((PriceOverride.contract == contract) & (PriceOverride.status == "active"))
        .order_by(PriceOverride.id.desc())
        .first()
    )
    if override is None:
        return None
    base = line_net(contract.quantity, contract.unit_price, currency)
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


def contract_items(
    contracts: Iterable[Contract],
    window: Callable[[Contract], tuple[dt.date, dt.date]],
    currency: str,
    *,
    issue_date: dt.date | None = None,
) -> BillableItems:
    """Cycle lines (and price overrides) of the contracts' cycles due in each window.

    A manual order's first invoice re-anchors its cycles on the issue date (R-RUN-6).
    """
    items = BillableItems()
    for contract in contracts:
        reanchor = issue_date is not None and is_unanchored_manual(contract)
        start, end = window(contract)
        due = due_cycles(contract, start, end, anchor=issue_date if reanchor else None)
        for whole, part in due:
            line = cycle_line(contract, whole, part, currency)
            line.reanchor = reanchor
            items.lines.append(line)
        if due:
            override = override_line(contract, currency)
            if override is not None:
                items.lines.append(override[0])
                items.override_ids.append(override[1])
    return items


def usage_items(
    client_ids: list[int],
    lo: dt.datetime,
    hi: dt.datetime,
    rate: Decimal,
    currency: str,
    timezone: str,
    *,
    late: bool = False,
) -> BillableItems:
    """One line per destination group (and unit): count, quantity, amount (R-INV-2).

    With ``late``, unbilled records from before ``lo`` come too, as their own lines
    labelled with their month (R-RUN-13).
    """
    condition = (
        UsageRecord.client.in_(client_ids)
        & UsageRecord.invoice.is_null()
        & (UsageRecord.occurred_at < hi)
    )
    if not late:
        condition &= UsageRecord.occurred_at >= lo
    records = UsageRecord.select().where(condition).order_by(UsageRecord.id)
    groups: dict[tuple[str, str, str], list[Decimal]] = {}
    items = BillableItems()
    for record in records:
        month = ""
        if record.occurred_at < lo:
            month = local_date(record.occurred_at, timezone).strftime("%Y-%m")
        count_qty_amount = groups.setdefault(
            (month, record.destination_group, record.unit), [Decimal(0)] * 3
        )
        count_qty_amount[0] += 1
        count_qty_amount[1] += record.quantity
        count_qty_amount[2] += record.amount
        items.usage_ids.append(record.id)
    for (month, group, unit), (count, quantity, amount) in sorted(groups.items()):
        net = quantize(amount, currency)
        unit_price = (net / quantity).quantize(Decimal("0.000001")) if quantity else net
        label = f"{group} ({count} records" + (f", late usage {month})" if month else ")")
        items.lines.append(
            DraftLine(
                kind="usage",
                description=label,
                quantity=quantity,
                unit=unit,
                unit_price=unit_price,
                net=net,
                tax_rate=rate,
            )
        )
    return items


def charge_items(client: Client, until: dt.date, rate: Decimal) -> BillableItems:
    """Pending charges eligible on or before ``until`` (seed 003 schedule date)."""
    charges = (
        PendingCharge.select()
        .where(
            (PendingCharge.client == client)
            & (PendingCharge.status == "pending")
            & (PendingCharge.schedule_date.is_null() | (PendingCharge.schedule_date <= until))
        )
        .order_by(PendingCharge.id)
    )
    items = BillableItems()
    for charge in charges:
        items.lines.append(
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
        items.charge_ids.append(charge.id)
    return items


def client_ids_of(owner: Client | Reseller) -> list[int]:
    if isinstance(owner, Client):
        return [owner.id]
    return [c.id for c in Client.select(Client.id).where(Client.reseller == owner)]


def collect_items(
    owner: Client | Reseller,
    start: dt.date,
    end: dt.date,
    *,
    issue_date: dt.date | None = None,
) -> BillableItems:
    """Everything billable for ``owner`` in ``start..end`` (whole end day, R-TIME-2)."""
    currency = owner.currency
    rate = default_tax_rate(owner)
    timezone = owner.enterprise.timezone
    items = contract_items(
        owner_contracts(owner), lambda _c: (start, end), currency, issue_date=issue_date
    )
    if isinstance(owner, Client):
        items.extend(charge_items(owner, end, rate))
    lo, hi = period_bounds(start, end, timezone)
    items.extend(usage_items(client_ids_of(owner), lo, hi, rate, currency, timezone))
    return items
