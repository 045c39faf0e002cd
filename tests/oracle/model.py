"""A reference model of docs/billing-rules.md: what must be billed, when, and on which invoice.

Fed the operations applied to billingd (parties, bill groups, contracts, usage, charges,
price overrides, runs, operators' invoices, reissues), it says which invoices a run as
of a day must issue: owner, bill group, billing date and items, with nets and tax rates.
It shares nothing with the engine but ``billingd.money.quantize``; its calendar
arithmetic is its own, written from the rules, small enough to be checked by reading.

Billable items are keyed the way the database claims them (R-RUN-9):
``("cycle", contract, cycle_start)``, ``("usage", record, "client" | "reseller")``,
``("charge", charge)`` and ``("override", contract, override)``.

Not modelled (other tests cover them): review windows (drafts), self-checkout gateways,
parking and release, suspended clients, closed periods, manual orders that are weekly,
daily or arrears or belong to clients with invoice days, sub-cent usage amounts, line
descriptions and late labels, ``bill_to`` snapshots, numbering-setting changes and the
credit-note VAT split.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from billingd.money import quantize

ONE_DAY = dt.timedelta(days=1)
CURRENCY = "EUR"
Owner = tuple[str, int]  # ("client", id) or ("reseller", id)
Key = tuple


# ---------------------------------------------------------------- calendar arithmetic


def add_months(anchor: dt.date, months: int) -> dt.date:
    """The anchor's day ``months`` later, clamped to the month's length: Jan 31 → Feb 28
    (29) → Mar 31, always counted from the anchor [R-RUN-4]."""
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def first_of_month_on_or_after(day: dt.date) -> dt.date:
    return day if day.day == 1 else add_months(day.replace(day=1), 1)


def invoice_dates(days: tuple[int, ...], since: dt.date) -> Iterator[dt.date]:
    """An owner's invoice days on or after ``since``; 31 → the month's last day [R-RUN-3]."""
    month = since.replace(day=1)
    while True:
        last = calendar.monthrange(month.year, month.month)[1]
        for day in sorted({min(d, last) for d in days}):
            if month.replace(day=day) >= since:
                yield month.replace(day=day)
        month = add_months(month, 1)


# ---------------------------------------------------------------- what the model is fed


@dataclass
class Party:
    kind: str  # "client" | "reseller"
    id: int
    days: tuple[int, ...]  # invoice days; empty: billed per contract cycle
    rate: Decimal  # its default tax rate
    reseller: int | None = None
    default_group: int | None = None

    @property
    def key(self) -> Owner:
        return (self.kind, self.id)


@dataclass
class Group:
    id: int
    auto: bool = True  # invoicing auto, not manual
    active: bool = True  # status active, not cancelled


@dataclass
class Contract:
    id: int
    owner: Owner
    group: int | None
    full: Decimal  # quantity × unit price, quantised: one whole cycle's net
    rate: Decimal
    cycle: str
    interval: int
    anchor: dt.date
    start: dt.date
    end: dt.date | None
    timing: str
    origin: str
    created: dt.date  # local day it was created (imported: the import) [R-RUN-8]
    first_invoice: dt.date | None = None  # manual orders: the first invoice's date [R-RUN-6]

    def boundary(self, k: int) -> dt.date:
        step = self.interval * k
        if self.cycle == "day":
            return self.anchor + dt.timedelta(days=step)
        if self.cycle == "week":
            return self.anchor + dt.timedelta(weeks=step)
        return add_months(self.anchor, step * (12 if self.cycle == "year" else 1))

    def cycles(self, until: dt.date) -> Iterator[tuple[dt.date, dt.date, Decimal]]:
        """Cycles starting on or before ``until``, clipped to start and end dates, with
        their nets pro rata by days [R-RUN-4, R-RUN-8]."""
        k = 0
        while (lo := self.boundary(k)) <= until and (self.end is None or lo <= self.end):
            hi = self.boundary(k + 1) - ONE_DAY
            start, end = max(lo, self.start), min(hi, self.end or hi)
            if start <= end:
                days, whole = (end - start).days + 1, (hi - lo).days + 1
                net = self.full if days == whole else quantize(self.full * days / whole, CURRENCY)
                yield start, end, net
            k += 1

    def billing_day(self, start: dt.date, end: dt.date) -> dt.date:
        """Advance: the first day; arrears: the day after the last; a manual order after
        its first invoice: the next day with that invoice's day of the month [R-RUN-6]."""
        day = start if self.timing == "advance" else end + ONE_DAY
        if self.origin == "manual" and self.first_invoice is not None:
            f = self.first_invoice.day  # the machine keeps it at most 28
            day = day.replace(day=f) if day.day <= f else add_months(day.replace(day=f), 1)
        return day


@dataclass
class Usage:
    id: int
    client: int
    day: dt.date  # local date it occurred [R-TIME-1]
    amount: Decimal
    group: int | None


@dataclass
class Charge:
    id: int
    client: int
    amount: Decimal
    ready: dt.date  # its schedule date, or the day it was added
    scheduled: bool
    group: int | None
    rate: Decimal
    cancelled: bool = False


@dataclass(frozen=True)
class Item:
    key: Key
    owner: Owner
    group: int | None
    net: Decimal
    rate: Decimal
    ready: dt.date = dt.date.min
    own_date: bool = False  # a per-cycle owner's cycle: billed on its own billing day


@dataclass
class Expected:
    """One invoice a run must issue."""

    owner: Owner
    group: int | None
    billing_date: dt.date
    items: list[Item] = field(default_factory=list)


# ---------------------------------------------------------------- the model


class Model:
    def __init__(self, timezone: str, tax_rate: Decimal) -> None:
        self.zone, self.rate = ZoneInfo(timezone), tax_rate
        self.parties: dict[Owner, Party] = {}
        self.groups: dict[int, Group] = {}
        self.contracts: dict[int, Contract] = {}
        self.usage: dict[int, Usage] = {}
        self.charges: dict[int, Charge] = {}
        self.overrides: dict[int, int] = {}  # contract → its pending price override
        self.finals: dict[int, Decimal] = {}  # price override → its final amount
        self.billed: dict[Key, int] = {}  # item → the invoice that bills it
        self.items_of: dict[int, list[Item]] = {}  # invoice → its items
        self.scheduled: set[tuple[Owner, int | None, dt.date]] = set()

    # -- operations -----------------------------------------------------------------

    def add(self, thing: Party | Group | Contract | Charge) -> None:
        """A new party, bill group, contract or pending charge."""
        if isinstance(thing, Party):
            self.parties[thing.key] = thing
        else:
            table = {Group: self.groups, Contract: self.contracts, Charge: self.charges}
            table[type(thing)][thing.id] = thing

    def add_usage(
        self, record: int, client: int, at_utc: dt.datetime, amount: Decimal, contract: int | None
    ) -> None:
        """A usage record goes to its contract's bill group, else the default [R-RUN-17]."""
        day = at_utc.replace(tzinfo=dt.UTC).astimezone(self.zone).date()
        group = self.contracts[contract].group if contract else self.client(client).default_group
        self.usage[record] = Usage(record, client, day, amount, group)

    def set_override(self, contract: int, override: int | None, final: Decimal) -> None:
        """A price override: the contract's final amount on the invoice that bills its
        next cycles; final = base removes it (SPEC §2)."""
        self.overrides.pop(contract, None)
        if override is not None:
            self.overrides[contract], self.finals[override] = override, final

    def _override(self, contract: int, override: int, items: Iterable[Item]) -> Item:
        """Its line: the difference to what the invoice bills for the contract's cycles,
        pro rata included (docs/billing-rules.md, billable items)."""
        c = self.contracts[contract]
        billed = sum((i.net for i in items if i.key[:2] == ("cycle", contract)), Decimal(0))
        net = quantize(self.finals[override] - billed, CURRENCY)
        return Item(("override", contract, override), c.owner, c.group, net, c.rate)

    def priced(self, items: list[Item]) -> list[Item]:
        """The items of one invoice with their overrides priced against its cycles."""
        return [self._override(*i.key[1:], items) if i.key[0] == "override" else i for i in items]

    def client(self, client: int) -> Party:
        return self.parties[("client", client)]

    # -- what is billable -----------------------------------------------------------

    def _schedulable(self, group: int | None) -> bool:
        """Items of a manual or cancelled bill group are never billed automatically."""
        return group is None or (self.groups[group].auto and self.groups[group].active)

    def _cycle_items(
        self, c: Contract, until: dt.date, party: Party, every: bool = False
    ) -> Iterator[Item]:
        """Unbilled cycles (``every``: billed ones too) due automatically, with the day
        each is ready for its owner."""
        if not self._schedulable(c.group) or (c.origin == "manual" and not c.first_invoice):
            return  # manual orders wait for their first invoice [R-RUN-6]
        for start, end, net in c.cycles(until):
            key, day = ("cycle", c.id, start), c.billing_day(start, end)
            if (key in self.billed and not every) or (c.origin == "imported" and day < c.created):
                continue  # imported: cycles before the import are not back-billed [R-RUN-8]
            if party.days and not every:  # R-RUN-3: started / ended before X
                ready = (start if c.timing == "advance" else end) + ONE_DAY
                yield Item(key, c.owner, c.group, net, c.rate, ready)
            else:  # R-RUN-4: on its own billing day
                yield Item(key, c.owner, c.group, net, c.rate, day, own_date=True)

    def _usage_items(self, party: Party) -> Iterator[Item]:
        """Usage is ready the day after its local date; a reseller bills all its clients'
        records, each at most once per party [R-INV-3]."""
        for u in self.usage.values():
            owners = (("client", u.client), ("reseller", self.client(u.client).reseller))
            key = ("usage", u.id, party.kind)
            if party.key in owners and key not in self.billed:
                group = u.group if party.kind == "client" else None
                yield Item(key, party.key, group, u.amount, party.rate, u.day + ONE_DAY)

    def _charge_items(self, party: Party) -> Iterator[Item]:
        for ch in self.charges.values():
            key = ("charge", ch.id)
            if party.key == ("client", ch.client) and not ch.cancelled and key not in self.billed:
                yield Item(key, party.key, ch.group, ch.amount, ch.rate, ch.ready)

    def _contracts_of(self, owner: Owner) -> list[Contract]:
        return [c for c in self.contracts.values() if c.owner == owner]

    def _auto_items(self, party: Party, as_of: dt.date) -> Iterator[Item]:
        for c in self._contracts_of(party.key):
            yield from self._cycle_items(c, as_of, party)
        for item in (*self._usage_items(party), *self._charge_items(party)):
            if self._schedulable(item.group):
                yield item

    def _cycle_days(self, party: Party, group: int | None, as_of: dt.date) -> list[dt.date]:
        """The billing days of a bill group's cycles billed automatically [R-RUN-4]."""
        days = set()
        for c in self._contracts_of(party.key):
            if c.group == group:
                days.update(i.ready for i in self._cycle_items(c, as_of, party, every=True))
        return sorted(days)

    def _next_date(self, party: Party, item: Item, as_of: dt.date, cache: dict) -> dt.date:
        """The first billing date on or after the day the item is ready that has no
        scheduled invoice of its bill group yet: invoice days, or the group's cycles'
        billing days and every 1st [R-RUN-3, R-RUN-4, R-RUN-13, R-RUN-16]."""
        if party.days:
            dates: Iterator[dt.date] = invoice_dates(party.days, item.ready)
        else:
            if (party.key, item.group) not in cache:
                cache[party.key, item.group] = self._cycle_days(party, item.group, as_of)
            found, first = set(cache[party.key, item.group]), first_of_month_on_or_after(item.ready)
            while first <= as_of:
                found.add(first)
                first = add_months(first, 1)
            dates = iter(sorted(d for d in found if d >= item.ready))
        free = (d for d in dates if d > as_of or (party.key, item.group, d) not in self.scheduled)
        return next(free, as_of + ONE_DAY)

    # -- a run ------------------------------------------------------------------------

    def plan(self, as_of: dt.date, only: Owner | None = None) -> list[Expected]:
        """The invoices a run as of ``as_of`` must issue, oldest billing date first, one
        per owner, bill group and billing date [R-RUN-2, R-RUN-9, R-RUN-17]."""
        found: dict[tuple[Owner, int | None, dt.date], Expected] = {}
        cache: dict = {}
        for party in self.parties.values():
            if only is not None and party.key != only:
                continue
            for item in self._auto_items(party, as_of):
                day = item.ready if item.own_date else self._next_date(party, item, as_of, cache)
                if day <= as_of:
                    slot = (party.key, item.group, day)
                    found.setdefault(slot, Expected(*slot)).items.append(item)
        plan = sorted(found.values(), key=lambda e: (e.billing_date, e.owner, e.group or 0))
        for contract in self.overrides:  # with the contract's next cycle
            for expected in plan:
                if any(i.key[:2] == ("cycle", contract) for i in expected.items):
                    override = self.overrides[contract]
                    expected.items.append(self._override(contract, override, expected.items))
                    break
        return plan

    def commit(self, invoice: int, items: list[Item], scheduled: Expected | None = None,
               issued: dt.date | None = None) -> None:  # fmt: skip
        """Record an issued invoice and what it bills; a manual order's first invoice
        sets the day of the month of its later invoices [R-RUN-6]."""
        if scheduled is not None:
            self.scheduled.add((scheduled.owner, scheduled.group, scheduled.billing_date))
        self.items_of[invoice] = list(items)
        for item in items:
            self.billed[item.key] = invoice
            if item.key[0] == "override":
                self.overrides.pop(item.key[1], None)
            if item.key[0] == "cycle" and issued is not None:
                c = self.contracts[item.key[1]]
                if c.origin == "manual" and c.first_invoice is None:
                    c.first_invoice = issued

    # -- operators' invoices ----------------------------------------------------------

    def period_items(
        self, owner: Owner, start: dt.date, end: dt.date, today: dt.date
    ) -> tuple[dict[Key, Item], dict[Key, Item]]:
        """What ``invoice period`` must bill, and what it may bill where the rules leave
        it open [R-INV-1, R-RUN-6]: unbilled cycles that started (advance) or ended
        (arrears) in the period (imported ones before the import: may), usage of the
        period's days [R-TIME-2], charges ready by its end (scheduled after the end but
        by today: may), and a pending override with a cycle of its contract."""
        must: dict[Key, Item] = {}
        may: dict[Key, Item] = {}
        for c in self._contracts_of(owner):
            for s, e, net in c.cycles(end):
                key = ("cycle", c.id, s)
                if key not in self.billed and start <= (s if c.timing == "advance" else e) <= end:
                    pre_import = c.origin == "imported" and c.billing_day(s, e) < c.created
                    (may if pre_import else must)[key] = Item(key, owner, c.group, net, c.rate)
        party = self.parties[owner]
        for item in self._usage_items(party):
            if start <= item.ready - ONE_DAY <= end:
                must[item.key] = item
        for item in self._charge_items(party):
            if item.ready <= end or not self.charges[item.key[1]].scheduled:
                must[item.key] = item
            elif item.ready <= today:
                may[item.key] = item
        for contract in self.overrides:
            for found in (must, may):
                if any(k[:2] == ("cycle", contract) for k in found):
                    item = self._override(contract, self.overrides[contract], found.values())
                    found[item.key] = item
                    break
        return must, may

    def release(self, invoice: int) -> list[Item]:
        """Reissue: what the voided invoice billed is billable again [R-INV-9]."""
        items = self.items_of.pop(invoice, [])
        for item in items:
            del self.billed[item.key]
            if item.key[0] == "override" and item.key[1] not in self.overrides:
                self.overrides[item.key[1]] = item.key[2]
        return items
