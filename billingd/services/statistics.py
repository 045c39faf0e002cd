"""The statistics of a period's usage (seed 000 "Send stats", R-INV-2).

Two shapes of the same content: a CSV file (:func:`statistics_csv`) and the document a
renderer receives for a statistics PDF (:func:`statistics_document`). Both hold

* a heading: the invoice (number, issue date), the client (name, company, contract
  number) and the period;
* the period's records, oldest first, each ``occurred_at`` in the enterprise's
  timezone with its UTC offset (``2026-11-03T14:05:00+01:00``);
* the totals per destination group and unit — exactly the invoice's usage lines:
  record count, quantity, and the amount rounded to the currency as the line's net —
  and a grand total.

Records are streamed from the database as tuples, never loaded as model objects.
In the CSV, text cells that a spreadsheet would read as a formula (starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return) are prefixed with ``'``;
numbers (quantities, amounts, counts) are written as they are
(:mod:`billingd.domain.csv_cells`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import peewee

from billingd.db.models import Client, Invoice, Reseller, UsageRecord
from billingd.domain.csv_cells import safe_cell
from billingd.domain.periods import period_bounds
from billingd.domain.usage_rows import RECORD
from billingd.money import quantize
from billingd.services.billing_items import client_ids_of
from billingd.views import document_brand, plain

RECORD_COLUMNS = RECORD
GROUP_COLUMNS = ("destination_group", "unit", "records", "quantity", "amount")
NUMERIC_COLUMNS = frozenset({"quantity", "amount", "records"})

Row = tuple[dt.datetime, str, str, Decimal, str, Decimal]
"""A usage record as selected: the columns of :data:`RECORD_COLUMNS`, instant in UTC."""


@dataclass(frozen=True)
class Heading:
    """What the statistics are of: the invoice (none for a period alone), the client
    as the invoice addresses it, the period, and the enterprise's currency and zone."""

    number: str
    issue_date: dt.date | None
    client: str
    company: str
    contract_number: str
    period_start: dt.date | None
    period_end: dt.date | None
    currency: str
    timezone: str

    @classmethod
    def of_invoice(cls, invoice: Invoice) -> Heading:
        bill_to = invoice.bill_to or {}
        return cls(
            number=invoice.number or "",
            issue_date=invoice.issue_date,
            client=bill_to.get("name") or "",
            company=bill_to.get("company") or "",
            contract_number=bill_to.get("contract_number") or "",
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            currency=invoice.currency,
            timezone=invoice.enterprise.timezone,
        )

    @classmethod
    def of_period(cls, owner: Client | Reseller, start: dt.date, end: dt.date) -> Heading:
        return cls(
            number="",
            issue_date=None,
            client=owner.name,
            company=owner.company,
            contract_number=getattr(owner, "contract_number", ""),
            period_start=start,
            period_end=end,
            currency=owner.currency,
            timezone=owner.enterprise.timezone,
        )

    def rows(self) -> list[tuple[str, str]]:
        """The heading as label/value pairs, values as text."""
        return [
            ("invoice", self.number),
            ("issue_date", plain(self.issue_date) or ""),
            ("client", self.client),
            ("company", self.company),
            ("contract_number", self.contract_number),
            ("period_start", plain(self.period_start) or ""),
            ("period_end", plain(self.period_end) or ""),
            ("currency", self.currency),
            ("timezone", self.timezone),
        ]


@dataclass
class GroupTotals:
    """Records, quantity and amount per destination group and unit, as usage lines are
    (R-INV-2); amounts are rounded to the currency once per group, like a line's net."""

    currency: str
    _sums: dict[tuple[str, str], list[Any]] = field(default_factory=dict)

    def add(self, group: str, unit: str, quantity: Decimal, amount: Decimal) -> None:
        sums = self._sums.setdefault((group, unit), [0, Decimal(0), Decimal(0)])
        sums[0] += 1
        sums[1] += quantity
        sums[2] += amount

    def groups(self) -> list[dict[str, Any]]:
        """One dict per group and unit, by group name: counts as int, decimals as text."""
        return [
            {
                "destination_group": group,
                "unit": unit,
                "records": count,
                "quantity": str(quantity),
                "amount": str(quantize(amount, self.currency)),
            }
            for (group, unit), (count, quantity, amount) in sorted(self._sums.items())
        ]

    def total(self) -> dict[str, Any]:
        """The grand total: every record, and the sum of the groups' rounded amounts."""
        amounts = (quantize(sums[2], self.currency) for sums in self._sums.values())
        return {
            "records": sum(sums[0] for sums in self._sums.values()),
            "amount": str(sum(amounts, quantize(Decimal(0), self.currency))),
        }


# -- the records -------------------------------------------------------------------------


def _select(condition: peewee.Expression) -> Iterator[Row]:
    query = (
        UsageRecord.select(*(getattr(UsageRecord, name) for name in RECORD_COLUMNS))
        .where(condition)
        .order_by(UsageRecord.occurred_at, UsageRecord.id)
    )
    return query.tuples().iterator()


def invoice_rows(invoice: Invoice) -> Iterator[Row]:
    """The records an invoice billed: a reseller's invoice claims its clients' records in
    a column of its own (R-INV-3)."""
    column = UsageRecord.reseller_invoice if invoice.reseller_id else UsageRecord.invoice
    return _select(column == invoice.id)


def period_rows(owner: Client | Reseller, start: dt.date, end: dt.date) -> Iterator[Row]:
    """Every record of the owner (a reseller: of its clients) in the whole period,
    billed or not (R-TIME-2)."""
    lo, hi = period_bounds(start, end, owner.enterprise.timezone)
    return _select(
        UsageRecord.client.in_(client_ids_of(owner))
        & (UsageRecord.occurred_at >= lo)
        & (UsageRecord.occurred_at < hi)
    )


def _records(rows: Iterable[Row], heading: Heading, totals: GroupTotals) -> Iterator[dict]:
    """Each row as a record dict (local time with offset, decimals as text), counted in
    ``totals`` on the way."""
    zone = ZoneInfo(heading.timezone)
    for occurred_at, destination, group, quantity, unit, amount in rows:
        totals.add(group, unit, quantity, amount)
        yield {
            "occurred_at": occurred_at.replace(tzinfo=dt.UTC).astimezone(zone).isoformat(),
            "destination": destination,
            "destination_group": group,
            "quantity": str(quantity),
            "unit": unit,
            "amount": str(amount),
        }


# -- the CSV file ------------------------------------------------------------------------


def statistics_csv(heading: Heading, rows: Iterable[Row]) -> bytes:
    """The statistics file (UTF-8): heading, records, totals per group, grand total."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([label, safe_cell(value)] for label, value in heading.rows())
    writer.writerow([])
    writer.writerow(RECORD_COLUMNS)
    totals = GroupTotals(heading.currency)
    for record in _records(rows, heading, totals):
        writer.writerow(safe_cell(value, name in NUMERIC_COLUMNS) for name, value in record.items())
    writer.writerow([])
    writer.writerow(GROUP_COLUMNS)
    for group in totals.groups():
        writer.writerow(safe_cell(group[name], name in NUMERIC_COLUMNS) for name in GROUP_COLUMNS)
    total = totals.total()
    writer.writerow(["total", "", total["records"], "", safe_cell(total["amount"], numeric=True)])
    return out.getvalue().encode("utf-8")


def invoice_statistics_csv(invoice: Invoice) -> bytes:
    """The statistics file of an issued invoice's usage."""
    return statistics_csv(Heading.of_invoice(invoice), invoice_rows(invoice))


def period_statistics_csv(owner: Client | Reseller, start: dt.date, end: dt.date) -> bytes:
    """The statistics file of a period without an invoice (R-INV-1, ``stats`` alone)."""
    return statistics_csv(Heading.of_period(owner, start, end), period_rows(owner, start, end))


# -- the document ------------------------------------------------------------------------


def statistics_document(invoice: Invoice) -> dict[str, Any]:
    """The document a renderer receives for a statistics PDF (docs/documents.md):
    ``kind`` ``"statistics"``, the invoice's dates, parties and brand, ``records``,
    ``groups`` and ``totals``."""
    heading = Heading.of_invoice(invoice)
    totals = GroupTotals(heading.currency)
    records = list(_records(invoice_rows(invoice), heading, totals))
    return {
        "kind": "statistics",
        "id": invoice.id,
        "number": invoice.number,
        "issue_date": plain(invoice.issue_date),
        "period_start": plain(invoice.period_start),
        "period_end": plain(invoice.period_end),
        "currency": invoice.currency,
        "timezone": heading.timezone,
        "seller": invoice.seller,
        "bill_to": invoice.bill_to,
        "brand": document_brand(invoice.enterprise),
        "records": records,
        "groups": totals.groups(),
        "totals": totals.total(),
    }
