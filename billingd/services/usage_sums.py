"""A run's unbilled usage summed by the database, span by span (issue 13, R-RUN-16).

An invoice bills usage per destination group and unit: a count, a quantity and an
amount (R-INV-2). Reading a month of records into Python one by one cost a run most
of its time, so for most clients the database sums them instead.

Which invoice takes a record depends only on the day it occurred (in the owner's
timezone) and on the owner's billing dates: the 1st of every month and the billing
days of its contracts' cycles (``docs/billing-rules.md``). The records of the days
from one such date up to the next (a *span*) all go on the same invoice, under the
same late-usage label (a span never crosses a 1st). Summed per client, contract,
destination group, unit and span, they plan exactly as the records one by one
would, and a dry run plans the same sums (R-RUN-16). Spans may be finer than needed
(the dates of all clients of a batch cut every client's records): that changes
nothing either.

Where more decides the dates (invoice days; a contract billed by hand first, whose
cycles shift) the records are read one by one: :func:`summable` tells.

An invoice claims a span's records with one statement per contract and span, and
the count must match: a record imported in between (PostgreSQL) is never billed
unsummed; its invoice fails and the next run bills it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import peewee

from billingd.db.connection import decimal_sum
from billingd.db.models import Client, Contract, Invoice, UsageRecord
from billingd.db.prepared import PreparedWrite, Slot
from billingd.domain.billing_plan import first_of_month_after
from billingd.domain.cycles import billing_day, clip, cycles
from billingd.domain.invoice_days import parse_invoice_days
from billingd.domain.periods import local_date, local_midnight_utc

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Span:
    """A client's unbilled records of one contract in ``[lo, hi)`` (None: no bound):
    what an invoice claims of its sums."""

    client_id: int
    contract_id: int | None
    lo: dt.datetime | None
    hi: dt.datetime | None


def summable(client: Client, contracts: Iterable[Contract]) -> bool:
    """Whether the client's usage may be summed: its billing dates are its cycles'
    billing days and the 1sts, nothing else (no invoice days, no manual order)."""
    if parse_invoice_days(client.invoice_days):
        return False
    return all(c.origin != "manual" for c in contracts)


def split_days(contracts: Iterable[Contract], first: dt.date, last: dt.date) -> set[dt.date]:
    """Every date that may start a span of ``first..last``: the 1sts from ``first``'s
    month and the billing days of every cycle of the contracts up to ``last``."""
    days = set()
    day = first.replace(day=1)
    while day <= last:
        days.add(day)
        day = first_of_month_after(day)
    for c in contracts:
        for whole in cycles(c.anchor_date, c.cycle, c.interval, last, since=first):
            part = clip(whole, c.start_date, c.end_date)
            if part is not None:
                days.add(billing_day(c.timing, part))
    return days


def unbilled(column: peewee.Field) -> peewee.Expression:
    """``column IS NULL``, written so that no database reads it through the column's
    own index: most usage is unbilled until a run bills it, so that index would visit
    nearly every record of every client; the client's index finds an owner's instead."""
    return (column + 0).is_null()


def _unbilled(clients: Sequence[int]) -> peewee.Expression:
    return UsageRecord.client.in_(list(clients)) & unbilled(UsageRecord.invoice)


def _range(clients: Sequence[int]) -> tuple[dt.datetime, dt.datetime] | None:
    """The first and last instant of the clients' unbilled usage.

    Per client, so that no database reads it along the time index from the first
    record of all (PostgreSQL would, and for clients without usage read every one).
    """
    at = UsageRecord.occurred_at
    query = (
        UsageRecord.select(peewee.fn.MIN(at), peewee.fn.MAX(at))
        .where(_unbilled(clients))
        .group_by(UsageRecord.client)
        .tuples()
    )
    spans = [(at.python_value(first), at.python_value(last)) for first, last in query]
    if not spans:
        return None
    return min(first for first, _ in spans), max(last for _, last in spans)


@dataclass(frozen=True, slots=True)
class UsageSum:
    """The records of one client, contract, destination group, unit and span."""

    client_id: int
    contract_id: int | None
    destination_group: str
    unit: str
    count: int
    quantity: Decimal
    amount: Decimal
    day: dt.date  # the local day of the latest record: each of them plans the same
    last_id: int
    span: Span


def load_sums(
    clients: Sequence[int], contracts: Iterable[Contract], timezone: str
) -> list[UsageSum]:
    """The unbilled usage of ``clients`` (all in ``timezone``) summed per span, the
    spans cut by the billing days of ``contracts`` (theirs) and the 1sts."""
    found = _range(clients)
    if found is None:
        return []
    first = local_date(found[0], timezone)
    last = local_date(found[1], timezone) + ONE_DAY
    bounds = [local_midnight_utc(d, timezone) for d in sorted(split_days(contracts, first, last))]
    column = UsageRecord.occurred_at
    cases = [(column < bound, n) for n, bound in enumerate(bounds)]
    span = peewee.Case(None, cases, len(bounds)).alias("span")
    query = (
        UsageRecord.select(
            UsageRecord.client,
            UsageRecord.contract,
            UsageRecord.destination_group,
            UsageRecord.unit,
            span,
            peewee.fn.COUNT(UsageRecord.id),
            decimal_sum(UsageRecord.quantity),
            decimal_sum(UsageRecord.amount),
            peewee.fn.MAX(column),
            peewee.fn.MAX(UsageRecord.id),
        )
        .where(_unbilled(clients))
        .group_by(
            UsageRecord.client,
            UsageRecord.contract,
            UsageRecord.destination_group,
            UsageRecord.unit,
            peewee.SQL("span"),
        )
        .tuples()
    )
    edges = [None, *bounds, None]
    sums = []
    for client_id, contract_id, group, unit, n, count, quantity, amount, at, last_id in query:
        sums.append(
            UsageSum(
                client_id,
                contract_id,
                group,
                unit,
                count,
                Decimal(str(quantity)),
                Decimal(str(amount)),
                local_date(column.python_value(at), timezone),
                last_id,
                Span(client_id, contract_id, edges[n], edges[n + 1]),
            )
        )
    return sums


def _claim_span(lo: bool, hi: bool, with_contract: bool) -> peewee.Query:
    condition = (
        (UsageRecord.client == Slot("client"))
        & unbilled(UsageRecord.invoice)
        & (UsageRecord.id <= Slot("last_id"))
    )
    # the client's index finds its records, not the time index (PostgreSQL without
    # statistics, after an import, combined both: 4 ms a claim), nor the contract's:
    # no index serves these
    at = peewee.fn.COALESCE(UsageRecord.occurred_at, UsageRecord.occurred_at)
    if lo:
        condition &= at >= Slot("lo")
    if hi:
        condition &= at < Slot("hi")
    contract = UsageRecord.contract + 0
    condition &= (contract == Slot("contract")) if with_contract else contract.is_null()
    return UsageRecord.update(invoice=Slot("invoice")).where(condition)


CLAIM_SPAN = PreparedWrite(_claim_span)


def claim_sums(sums: Iterable[UsageSum], invoice: Invoice) -> bool:
    """Mark the records of an invoice's sums as billed by it; False when some span no
    longer holds exactly the records summed (one was billed or added meanwhile)."""
    spans: dict[Span, tuple[int, int]] = {}
    for s in sums:
        count, last_id = spans.get(s.span, (0, 0))
        spans[s.span] = (count + s.count, max(last_id, s.last_id))
    for span, (count, last_id) in spans.items():
        claimed = CLAIM_SPAN.execute(
            (span.lo is not None, span.hi is not None, span.contract_id is not None),
            invoice=invoice.id,
            client=span.client_id,
            last_id=last_id,
            lo=_stored(span.lo),
            hi=_stored(span.hi),
            contract=span.contract_id,
        )
        if claimed != count:
            return False
    return True


def _stored(instant: dt.datetime | None) -> object:
    return None if instant is None else UsageRecord.occurred_at.db_value(instant)
