"""Collecting what is billable for an owner and a period (R-INV-1..3, R-RUN-13).

Pure reads: the result names the rows an invoice would claim; nothing is written.
The building blocks (contract, usage and charge lines) are shared by invoices
for a period and by scheduled runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

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
from billingd.domain.vat import VatParties, treat
from billingd.domain.vat_ids import is_valid_vat_id
from billingd.money import quantize
from billingd.services.parties import default_bill_group
from billingd.services.usage_sums import UsageSum, unbilled

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
    tax_category: str = ""  # "" until the VAT rule decides (R-VAT-1)
    exemption_reason: str = ""


@dataclass
class BillableItems:
    """Lines for a period and the rows that billing them claims."""

    lines: list[DraftLine] = field(default_factory=list)
    usage_ids: list[int] = field(default_factory=list)
    usage_sums: list[UsageSum] = field(default_factory=list)  # claimed span by span
    charge_ids: list[int] = field(default_factory=list)
    override_ids: list[int] = field(default_factory=list)

    def extend(self, other: BillableItems) -> None:
        self.lines.extend(other.lines)
        self.usage_ids.extend(other.usage_ids)
        self.usage_sums.extend(other.usage_sums)
        self.charge_ids.extend(other.charge_ids)
        self.override_ids.extend(other.override_ids)


def default_tax_rate(owner: Client | Reseller) -> Decimal:
    return owner.tax_rate if owner.tax_rate is not None else owner.enterprise.tax_rate


def contract_tax(contract: Contract) -> dict[str, Any]:
    """A contract's rate and its own VAT category, as a line's keyword arguments."""
    return {
        "tax_rate": contract.tax_rate,
        "tax_category": contract.tax_category,
        "exemption_reason": contract.exemption_reason,
    }


def vat_parties(owner: Client | Reseller) -> VatParties:
    """Who sells to whom, for the VAT category of the owner's lines (R-VAT-1)."""
    enterprise = owner.enterprise
    return VatParties(
        seller_country=enterprise.country,
        buyer_country=owner.country,
        buyer_vat_id_valid=is_valid_vat_id(owner.tax_id, owner.country),
        client_category=owner.tax_category,
        client_reason=owner.exemption_reason,
        reverse_charge=enterprise.reverse_charge,
    )


def with_vat(lines: list[DraftLine], parties: VatParties) -> list[DraftLine]:
    """The lines with their VAT category decided, and the rate it taxes at (R-VAT-1)."""
    treated = []
    for line in lines:
        t = treat(parties, line.tax_rate, line.tax_category, line.exemption_reason)
        treated.append(
            replace(line, tax_rate=t.rate, tax_category=t.category, exemption_reason=t.reason)
        )
    return treated


def owner_contracts(owner: Client | Reseller, *, every: bool = False) -> list[Contract]:
    """The owner's billable contracts (active or cancelled), or ``every`` one."""
    column = Contract.client if isinstance(owner, Client) else Contract.reseller
    condition = column == owner
    if not every:
        condition &= Contract.status.in_(BILLABLE_CONTRACT_STATUSES)
    return list(Contract.select().where(condition).order_by(Contract.id))


def billed_cycle_starts(contract: Contract) -> set[dt.date]:
    """The starts of the contract's cycles billed already (their claims, R-RUN-9)."""
    query = BilledCycle.select(BilledCycle.cycle_start).where(BilledCycle.contract == contract)
    return {start for (start,) in query.tuples()}


def due_cycles(contract: Contract, start: dt.date, end: dt.date) -> list[tuple[Cycle, Cycle]]:
    """Cycles of a contract whose billing day falls in ``start..end``, not billed yet.

    The billing day is the cycle start for ``advance`` and the cycle end for
    ``arrears`` (R-RUN-4); cycles are clipped to the contract's start and end dates.
    Returns ``(whole cycle, billed part)`` pairs.
    """
    billed = billed_cycle_starts(contract)
    found = []
    for whole in cycles(contract.anchor_date, contract.cycle, contract.interval, end, since=start):
        part = clip(whole, contract.start_date, contract.end_date)
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
        contract_id=contract.id,
        cycle=part,
        **contract_tax(contract),
    )


def active_override(contract: Contract) -> PriceOverride | None:
    """The contract's newest active price override, if any."""
    return (
        PriceOverride.select()
        .where((PriceOverride.contract == contract) & (PriceOverride.status == "active"))
        .order_by(PriceOverride.id.desc())
        .first()
    )


def override_line(
    contract: Contract, billed: Decimal, currency: str, override: PriceOverride | None
) -> tuple[DraftLine | None, int] | None:
    """The adjustment or discount of an active price override (seed 003 "Edit price").

    The override is the final amount of the contract on the invoice: the line is the
    difference to what its cycles bill there (``billed``, pro rata included), so a
    discount never takes the contract below zero. An override equal to that needs no
    line and is consumed all the same: it applies to one invoice only.
    """
    if override is None:
        return None
    difference = quantize(override.final_amount - billed, currency)
    if difference == 0:
        return None, override.id
    label = "Price adjustment" if difference > 0 else "Discount"
    line = DraftLine(
        kind="adjustment",
        description=f"{label}: {contract.description}",
        quantity=Decimal(1),
        unit_price=difference,
        net=difference,
        contract_id=contract.id,
        **contract_tax(contract),
    )
    return line, override.id


def add_overrides(
    items: BillableItems,
    contracts: dict[int, Contract],
    currency: str,
    done: set[int],
    find: Callable[[Contract], PriceOverride | None] = active_override,
) -> None:
    """Each billed contract's price override (``find``), after its cycle lines; once per
    contract (``done`` remembers the contracts whose override a run's earlier invoice
    took)."""
    billed: dict[int, Decimal] = {}
    for line in items.lines:
        if line.kind == "contract" and line.contract_id is not None:
            billed[line.contract_id] = billed.get(line.contract_id, Decimal(0)) + line.net
    for contract_id, net in billed.items():
        if contract_id in done:
            continue
        done.add(contract_id)
        contract = contracts[contract_id]
        override = override_line(contract, net, currency, find(contract))
        if override is not None:
            line, override_id = override
            if line is not None:
                items.lines.append(line)
            items.override_ids.append(override_id)


def contract_items(
    contracts: Iterable[Contract],
    window: Callable[[Contract], tuple[dt.date, dt.date]],
    currency: str,
) -> BillableItems:
    """Cycle lines (and price overrides) of the contracts' cycles due in each window."""
    items = BillableItems()
    by_id = {}
    for contract in contracts:
        by_id[contract.id] = contract
        start, end = window(contract)
        for whole, part in due_cycles(contract, start, end):
            items.lines.append(cycle_line(contract, whole, part, currency))
    add_overrides(items, by_id, currency, set())
    return items


@dataclass(frozen=True, slots=True)
class UsageRow:
    """The columns of an unbilled usage record that billing needs, with ``day``: the
    calendar day it occurred on in its owner's timezone (computed once, on loading)."""

    id: int
    day: dt.date
    contract_id: int | None
    destination_group: str
    unit: str
    quantity: Decimal
    amount: Decimal

    @property
    def count(self) -> int:
        return 1

    @classmethod
    def of(cls, columns: tuple[Any, ...], timezone: str) -> UsageRow:
        """A row from the columns of :data:`USAGE_COLUMNS`, in that order."""
        record_id, occurred_at, *rest = columns
        return cls(record_id, local_date(occurred_at, timezone), *rest)


USAGE_COLUMNS = (
    UsageRecord.id,
    UsageRecord.occurred_at,
    UsageRecord.contract,
    UsageRecord.destination_group,
    UsageRecord.unit,
    UsageRecord.quantity,
    UsageRecord.amount,
)
"""What billing reads of a usage record (:meth:`UsageRow.of`)."""


def usage_rows(
    owner: Client | Reseller, lo: dt.datetime | None = None, hi: dt.datetime | None = None
) -> list[UsageRow]:
    """The owner's usage not yet billed to it, optionally in ``[lo, hi)``.

    A client's records are claimed by its invoices, a reseller's clients' records by
    the reseller's invoices: each party bills a record at most once (R-INV-3).
    """
    if isinstance(owner, Client):
        condition = (UsageRecord.client == owner) & unbilled(UsageRecord.invoice)
    else:
        clients = Client.select(Client.id).where(Client.reseller == owner)
        condition = UsageRecord.client.in_(clients) & unbilled(UsageRecord.reseller_invoice)
    if lo is not None:
        condition &= UsageRecord.occurred_at >= lo
    if hi is not None:
        condition &= UsageRecord.occurred_at < hi
    timezone = owner.enterprise.timezone
    query = UsageRecord.select(*USAGE_COLUMNS).where(condition).order_by(UsageRecord.id)
    return [UsageRow.of(columns, timezone) for columns in query.tuples()]


def usage_lines(
    rows: Iterable[UsageRow | UsageSum], late_before: dt.date, rate: Decimal, currency: str
) -> BillableItems:
    """One line per destination group (and unit): count, quantity, amount (R-INV-2).

    ``rows`` are records or sums of records (:mod:`billingd.services.usage_sums`).
    Records from before ``late_before`` get lines of their own, labelled with their
    month (late usage, R-RUN-13).
    """
    groups: dict[tuple[str, str, str], list[Decimal]] = {}
    items = BillableItems()
    for record in rows:
        day = record.day
        month = day.strftime("%Y-%m") if day < late_before else ""
        count_qty_amount = groups.setdefault(
            (month, record.destination_group, record.unit), [Decimal(0)] * 3
        )
        count_qty_amount[0] += record.count
        count_qty_amount[1] += record.quantity
        count_qty_amount[2] += record.amount
        if isinstance(record, UsageSum):
            items.usage_sums.append(record)
        else:
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


def charge_line(charge: PendingCharge, rate: Decimal) -> DraftLine:
    """A pending charge's line, at its contract's tax rate or the owner's."""
    taxed = contract_tax(charge.contract) if charge.contract else {"tax_rate": rate}
    return DraftLine(
        kind="charge",
        description=charge.description,
        quantity=Decimal(1),
        unit_price=charge.amount,
        net=charge.amount,
        contract_id=charge.contract_id,
        **taxed,
    )


def charge_items(
    client: Client,
    until: dt.date,
    rate: Decimal,
    belongs: Callable[[PendingCharge], bool] = lambda _charge: True,
) -> BillableItems:
    """Pending charges eligible on or before ``until`` (seed 003 schedule date) that
    ``belongs`` keeps (a bill group's)."""
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
    for charge in filter(belongs, charges):
        items.lines.append(charge_line(charge, rate))
        items.charge_ids.append(charge.id)
    return items


def client_ids_of(owner: Client | Reseller) -> list[int]:
    if isinstance(owner, Client):
        return [owner.id]
    return [c.id for c in Client.select(Client.id).where(Client.reseller == owner)]


def group_of(item_group: int | None, default: int | None) -> int | None:
    """An item's bill group: its contract's, else the owner's default (R-RUN-17)."""
    return item_group if item_group is not None else default


def collect_items(
    owner: Client | Reseller, start: dt.date, end: dt.date, group: int | None = None
) -> BillableItems:
    """Everything billable for ``owner`` in ``start..end`` (whole end day, R-TIME-2):
    the cycles whose billing day lies in the period, the charges eligible by its end
    and the usage in it (R-INV-1), of one bill group (``None``: the client's default
    group; a reseller has none). A manual order's first invoice bills its cycles in
    the period it names; the cycles stay on the contract's anchor (R-RUN-6)."""
    currency = owner.currency
    rate = default_tax_rate(owner)
    timezone = owner.enterprise.timezone
    default = group
    if isinstance(owner, Client):
        default = default_bill_group(owner).id
        group = group if group is not None else default
    every = owner_contracts(owner, every=True)
    contract_groups = {c.id: group_of(c.bill_group_id, default) for c in every}
    contracts = [
        c
        for c in every
        if c.status in BILLABLE_CONTRACT_STATUSES and contract_groups[c.id] == group
    ]
    items = contract_items(contracts, lambda _c: (start, end), currency)
    if isinstance(owner, Client):
        items.extend(
            charge_items(
                owner, end, rate, lambda c: contract_groups.get(c.contract_id, default) == group
            )
        )
    lo, hi = period_bounds(start, end, timezone)
    rows = [
        r for r in usage_rows(owner, lo, hi) if contract_groups.get(r.contract_id, default) == group
    ]
    items.extend(usage_lines(rows, dt.date.min, rate, currency))
    return items
