"""What a scheduled run bills for one owner, and billing it (R-RUN-2..9, R-RUN-13, R-RUN-16/17).

An owner is a client or a reseller. Its unbilled items — contract cycles, usage
records, pending charges — are loaded with the day each becomes ready; the plan
(``billingd.domain.billing_plan``) decides which billing date and bill group bills
each one. A run persists the plan one invoice per transaction; a dry run shows it.

Exactly once holds per item (R-RUN-9): each invoice claims its cycles (a unique
key), its usage records (per party: a client's invoice and its reseller's never
take records from each other) and its charges in the transaction that writes it;
a claim that finds the item taken rolls the invoice back. A billing date of a bill
group that has its scheduled invoice is taken, so late items go on the next one
(R-RUN-13).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field

import peewee

from billingd.db.connection import is_postgres, write_transaction
from billingd.db.models import (
    BilledCycle,
    BillGroup,
    ChargeAttempt,
    Client,
    Contract,
    Invoice,
    PendingCharge,
    Reseller,
)
from billingd.domain.billing_plan import (
    ONE_DAY,
    Group,
    PlannedInvoice,
    Ready,
    plan_invoice_days,
    plan_per_cycle,
)
from billingd.domain.cycles import Cycle, billing_day, clip, cycles
from billingd.domain.invoice_days import parse_invoice_days
from billingd.domain.manual_orders import invoice_day_shift
from billingd.domain.periods import local_date
from billingd.services import invoicing
from billingd.services.billing_items import (
    BILLABLE_CONTRACT_STATUSES,
    BillableItems,
    UsageRow,
    add_overrides,
    charge_line,
    cycle_line,
    default_tax_rate,
    group_of,
    usage_lines,
)
from billingd.services.context import ServiceContext
from billingd.services.numbering import INVOICE, latest_issue_date
from billingd.services.owner_records import OwnerRecords, load_records
from billingd.services.usage_sums import UsageSum

Owner = Client | Reseller


class SlotTaken(Exception):
    """Another run (or daemon) billed some of these items first; the next run re-plans."""


def owner_key(owner: Owner) -> str:
    kind = "client" if isinstance(owner, Client) else "reseller"
    return f"{kind}:{owner.id}"


def self_checkout_blocked(contract: Contract) -> bool:
    """A self-checkout contract with a failed, unsettled charge bills no further cycle (R-RUN-7)."""
    failed = (
        ChargeAttempt.select()
        .join(Invoice)
        .where(
            (ChargeAttempt.contract == contract)
            & (ChargeAttempt.status == "failed")
            & Invoice.status.in_(("open", "partial"))
        )
    )
    return failed.exists()


def billed_by_hand_first(contract: Contract) -> tuple[dt.date, dt.date] | None:
    """A manual order's first invoice: the billing day of the first cycle it billed and
    its issue date (R-RUN-6). Later invoices, a backlog's too, do not move the day."""
    first = (
        BilledCycle.select(BilledCycle.cycle_start, BilledCycle.cycle_end, Invoice.issue_date)
        .join(Invoice)
        .where(BilledCycle.contract == contract)
        .order_by(Invoice.id, BilledCycle.cycle_start)
        .tuples()
        .first()
    )
    if first is None:
        return None
    start, end, issued = first
    return billing_day(contract.timing, Cycle(start, end)), issued


@dataclass(frozen=True)
class OwnerGroups:
    """An owner's bill groups as a run needs them, read once per owner (R-RUN-17)."""

    auto: dict[Group, BillGroup | None]  # the groups billed automatically
    default: Group
    of_contract: dict[int, Group]  # every contract's group, its own or the default

    @classmethod
    def load(cls, records: OwnerRecords) -> OwnerGroups:
        """Active groups invoiced ``auto`` are billed automatically (R-RUN-5); a reseller
        has no bill groups: everything of it is in the one group ``None``."""
        if isinstance(records.owner, Reseller):
            return cls({None: None}, None, {c.id: None for c in records.contracts})
        groups = records.bill_groups
        auto = {g.id: g for g in groups if g.status == "active" and g.invoicing == "auto"}
        default = records.default_group().id
        of_contract = {c.id: group_of(c.bill_group_id, default) for c in records.contracts}
        return cls(auto, default, of_contract)

    def of(self, contract_id: int | None) -> Group:
        """The group of an item that names ``contract_id`` (or none: the default)."""
        return self.of_contract.get(contract_id, self.default) if contract_id else self.default


def billing_floor(contract: Contract, timezone: str) -> dt.date:
    """The first billing day a run may bill: imported contracts are not back-billed (R-RUN-8)."""
    if contract.origin != "imported":
        return dt.date.min
    return local_date(contract.created_at, timezone)


@dataclass
class ScheduledContract:
    """A contract a run may bill, with its billing group and its manual-order shift."""

    contract: Contract
    group: Group
    floor: dt.date
    shift: tuple[dt.date, dt.date] | None  # (first billing day, first invoice date)

    def billing_day(self, part: Cycle) -> dt.date:
        day = billing_day(self.contract.timing, part)
        if self.shift is None:
            return day
        first_day, first_invoice = self.shift
        return invoice_day_shift(day, first_day, first_invoice, self.contract.cycle)

    def parts(self, since: dt.date, until: dt.date) -> Iterator[tuple[Cycle, Cycle]]:
        """(whole, billed part) of the cycles starting up to ``until``, from ``since``."""
        c = self.contract
        for whole in cycles(c.anchor_date, c.cycle, c.interval, until, since=since):
            part = clip(whole, c.start_date, c.end_date)
            if part is not None and billing_day(c.timing, part) >= self.floor:
                yield whole, part


def schedulable_contracts(records: OwnerRecords, groups: OwnerGroups) -> list[ScheduledContract]:
    """The contracts a scheduled run may bill (R-RUN-5..8)."""
    timezone = records.owner.enterprise.timezone
    found = []
    for contract in records.contracts:
        if contract.status not in BILLABLE_CONTRACT_STATUSES:
            continue
        group = groups.of(contract.id)
        if group not in groups.auto:
            continue
        shift = None
        if contract.origin == "manual":
            shift = billed_by_hand_first(contract)
            if shift is None:  # a manual order waits for its first invoice (R-RUN-6)
                continue
        if contract.origin == "self_checkout" and self_checkout_blocked(contract):
            continue
        found.append(ScheduledContract(contract, group, billing_floor(contract, timezone), shift))
    return found


@dataclass
class OwnerItems:
    """An owner's unbilled items, by key, with the day each becomes ready."""

    ready: list[Ready] = field(default_factory=list)
    cycles: dict[Hashable, tuple[ScheduledContract, Cycle, Cycle]] = field(default_factory=dict)
    usage: dict[Hashable, UsageRow | UsageSum] = field(default_factory=dict)
    charges: dict[int, PendingCharge] = field(default_factory=dict)


def load_items(
    records: OwnerRecords, contracts: list[ScheduledContract], groups: OwnerGroups, as_of: dt.date
) -> OwnerItems:
    """Everything unbilled that could be due by ``as_of`` (R-RUN-16)."""
    owner = records.owner
    timezone = owner.enterprise.timezone
    invoice_days = bool(parse_invoice_days(owner.invoice_days))
    items = OwnerItems()
    for scheduled in contracts:
        billed = records.billed_starts.get(scheduled.contract.id, set())
        for whole, part in scheduled.parts(dt.date.min, as_of):
            if part.start in billed:
                continue
            day = scheduled.billing_day(part)
            if invoice_days and scheduled.contract.timing == "advance":
                day = part.start + ONE_DAY  # billed in the period its cycle starts in
            if day <= as_of:
                key = ("cycle", scheduled.contract.id, part.start)
                items.cycles[key] = (scheduled, whole, part)
                items.ready.append(Ready(key, scheduled.group, day, own_date=not invoice_days))
    for number, row in enumerate([*records.usage, *records.usage_sums]):
        group = groups.of(row.contract_id)
        if group in groups.auto:
            key = ("usage", number)
            items.usage[key] = row
            items.ready.append(Ready(key, group, row.day + ONE_DAY))
    if isinstance(owner, Client):
        for charge in records.charges:
            group = groups.of(charge.contract_id)
            if group in groups.auto:
                ready = charge.schedule_date or local_date(charge.created_at, timezone)
                items.charges[charge.id] = charge
                items.ready.append(Ready(("charge", charge.id), group, ready))
    return items


def cycle_dates(
    contracts: list[ScheduledContract], since: dt.date, until: dt.date
) -> dict[Group, list[dt.date]]:
    """Every cycle billing day (billed or not) per bill group in ``since..until``."""
    found: dict[Group, set[dt.date]] = {}
    for scheduled in contracts:
        for _whole, part in scheduled.parts(since, until):
            day = scheduled.billing_day(part)
            if since <= day <= until:
                found.setdefault(scheduled.group, set()).add(day)
    return {group: sorted(days) for group, days in found.items()}


@dataclass
class PlannedDraft:
    """One invoice a run will issue: its billing date, bill group, period and items."""

    owner: Owner
    billing_date: dt.date
    group: BillGroup | None
    period: tuple[dt.date, dt.date]
    items: BillableItems


@dataclass
class OwnerPlan:
    drafts: list[PlannedDraft]


def plan_owner(owner: Owner, as_of: dt.date, records: OwnerRecords | None = None) -> OwnerPlan:
    """What a run as of ``as_of`` bills for ``owner``: the run issues exactly this.

    ``records`` are the owner's rows read with a batch of owners; without them they
    are read now, by the same loader (R-RUN-16)."""
    if records is None:
        (records,) = load_records([owner]).values()
    groups = OwnerGroups.load(records)
    contracts = schedulable_contracts(records, groups)
    items = load_items(records, contracts, groups, as_of)
    days = parse_invoice_days(owner.invoice_days)
    invoiced = records.invoiced
    if days:
        plan = plan_invoice_days(days, items.ready, as_of, invoiced)
    else:
        loose = [r.ready for r in items.ready if not r.own_date]
        since = min(loose, default=as_of)
        dates = cycle_dates(contracts, since - dt.timedelta(days=62), as_of + ONE_DAY)
        plan = plan_per_cycle(items.ready, as_of, dates, invoiced)
    drafts = []
    overridden: set[int] = set()
    for planned in plan.invoices:
        billable = planned_items(records, planned, items, overridden)
        period = planned.period or per_cycle_period(planned, billable)
        drafts.append(
            PlannedDraft(owner, planned.billing_date, groups.auto[planned.group], period, billable)
        )
    return OwnerPlan(drafts)


def planned_items(
    records: OwnerRecords, planned: PlannedInvoice, items: OwnerItems, overridden: set[int]
) -> BillableItems:
    """The lines of one planned invoice; a contract's price override goes with its first
    cycles; usage from before the previous billing date is labelled late (R-RUN-13)."""
    owner = records.owner
    currency, rate = owner.currency, default_tax_rate(owner)
    billable = BillableItems()
    usage: list[UsageRow | UsageSum] = []
    contracts: dict[int, Contract] = {}
    for key in planned.keys:
        kind = key[0]
        if kind == "cycle":
            scheduled, whole, part = items.cycles[key]
            contracts[scheduled.contract.id] = scheduled.contract
            billable.lines.append(cycle_line(scheduled.contract, whole, part, currency))
        elif kind == "usage":
            usage.append(items.usage[key])
        else:
            charge = items.charges[key[1]]
            billable.lines.append(charge_line(charge, rate))
            billable.charge_ids.append(charge.id)
    add_overrides(billable, contracts, currency, overridden, records.override_of)
    if usage:
        late_before = planned.previous_date or dt.date.min
        billable.extend(usage_lines(usage, late_before, rate, currency))
    return billable


def per_cycle_period(planned: PlannedInvoice, items: BillableItems) -> tuple[dt.date, dt.date]:
    """The cycles' span; without cycles, from the previous billing date to the day before."""
    spans = [line.cycle for line in items.lines if line.cycle is not None]
    if spans:
        return min(s.start for s in spans), max(s.end for s in spans)
    start = planned.previous_date or planned.billing_date
    return start, max(start, planned.billing_date - ONE_DAY)


class IssueDates:
    """Scheduled invoices are issued on the day they are generated, never before their
    billing date and never before the sequence's latest issue date (R-NUM-6).

    Remembers what it handed out, so a dry run dates later invoices like the run would.
    """

    def __init__(self, today: Callable[[str], dt.date]) -> None:
        self.today = today  # the generation day in a timezone
        self._latest: dict[int, dt.date] = {}

    def date_for(self, owner: Owner, billing_date: dt.date) -> dt.date:
        enterprise = owner.enterprise
        day = max(billing_date, self.today(enterprise.timezone))
        latest = latest_issue_date(enterprise, INVOICE, day)
        remembered = self._latest.get(enterprise.id)
        day = max(d for d in (day, latest, remembered) if d is not None)
        self._latest[enterprise.id] = day
        return day


def _lock_owner(key: str) -> None:
    """On PostgreSQL, one daemon at a time bills an owner: an owner another daemon holds
    is left to it (``SlotTaken``), without waiting for its batch to commit, so that
    daemons running side by side share the owners out."""
    if is_postgres():
        query = "SELECT pg_try_advisory_xact_lock(hashtext(%s))"
        (taken,) = Invoice._meta.database.execute_sql(query, (key,)).fetchone()
        if not taken:
            raise SlotTaken(f"{key}: another daemon is billing it")


def bill_planned(
    ctx: ServiceContext,
    planned: PlannedDraft,
    issue_date: dt.date,
) -> Invoice:
    """Issue (or draft, with a review window) one planned invoice in its own transaction.

    Raises ``SlotTaken`` when another run billed one of its items first.
    """
    owner = planned.owner
    try:
        with write_transaction():
            _lock_owner(owner_key(owner))
            draft = invoicing.build_draft(owner, planned.items, issue_date, planned.period)
            draft.billing_date = planned.billing_date
            draft.bill_group = planned.group
            review = planned.group is not None and planned.group.review_days > 0
            if review:
                invoice = invoicing.persist_draft(ctx, draft, origin="schedule")
            else:
                invoice = invoicing.persist(ctx, draft, origin="schedule")
    except (peewee.IntegrityError, invoicing.ClaimConflict) as exc:
        raise SlotTaken(f"{owner_key(owner)} {planned.billing_date}: {exc}") from None
    return invoice
