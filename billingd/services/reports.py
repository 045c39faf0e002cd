"""Figures for the dashboard: revenue per month and the aging of open balances.

Each figure is one aggregate query per kind of row (``GROUP BY`` month or bucket and
currency), summing decimal text exactly on SQLite and PostgreSQL alike
(:func:`billingd.db.connection.decimal_sum`); no invoice is loaded as a model object.

Both reports are as of the daemon's clock (the test clock's when it is on): its day in
the enterprises' timezone, or in UTC when enterprises keep different timezones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import peewee
from peewee import SQL, fn

from billingd.db.connection import decimal_sum, read_transaction
from billingd.db.models import CreditNote, Enterprise, Invoice, Payment, Refund
from billingd.domain.reports import AGING_BUCKETS, aging_bounds, first_day, last_months
from billingd.money import quantize
from billingd.services.context import ServiceContext

ISSUED = ("open", "partial", "paid")
"""Invoices that count as invoiced: not drafts, not void."""
OPEN = ("open", "partial")


def report_day(ctx: ServiceContext) -> dt.date:
    """The day the reports are as of (see the module's docstring)."""
    zones = {e.timezone for e in Enterprise.select(Enterprise.timezone).distinct()}
    return ctx.today(zones.pop() if len(zones) == 1 else "UTC")


def _month_of(column: peewee.Field) -> peewee.Node:
    """``YYYY-MM`` of a date or timestamp column (both backends write dates ISO first)."""
    return fn.SUBSTR(column.cast("TEXT"), 1, 7).alias("month")


def _sums(
    model: type[peewee.Model],
    day: peewee.Field,
    amount: peewee.Field,
    currency: peewee.Field,
    since: dt.date | dt.datetime,
    where: peewee.Expression | None = None,
) -> Iterable[tuple[str, str, Any]]:
    """``(month, currency, sum)`` of ``amount`` for the rows from ``since`` on."""
    condition = day >= since
    query = (
        model.select(_month_of(day), currency, decimal_sum(amount))
        .where(condition if where is None else condition & where)
        .group_by(SQL("month"), currency)
    )
    return query.tuples()


def revenue(ctx: ServiceContext, months: int) -> dict[str, Any]:
    """Per month of the last ``months``: what was invoiced and what was paid, per currency.

    Invoiced: the totals of issued invoices by issue date, less the credit notes by
    their issue date (void invoices and drafts count nothing). Paid: payments by the
    UTC day they were received, less the refunds that went through.
    """
    with read_transaction():
        today = report_day(ctx)
        keys = last_months(today, months)
        start = first_day(keys[0])
        since = dt.datetime.combine(start, dt.time())
        invoiced = [
            (1, _sums(Invoice, Invoice.issue_date, Invoice.total, Invoice.currency, start,
                      Invoice.status.in_(ISSUED))),
            (-1, _sums(CreditNote, CreditNote.issue_date, CreditNote.amount,
                       CreditNote.currency, start)),
        ]  # fmt: skip
        paid = [
            (1, _sums(Payment, Payment.received_at, Payment.amount, Payment.currency, since)),
            (-1, _sums(Refund, Refund.created_at, Refund.amount, Refund.currency, since,
                       Refund.status == "succeeded")),
        ]  # fmt: skip
        figures = {"invoiced": _add_up(invoiced), "paid": _add_up(paid)}
    currencies = sorted({c for sums in figures.values() for _, c in sums})
    return {
        "as_of": today.isoformat(),
        "currencies": currencies,
        "months": [
            {
                "month": key,
                **{
                    kind: {c: str(sums.get((key, c), quantize(Decimal(0), c))) for c in currencies}
                    for kind, sums in figures.items()
                },
            }
            for key in keys
        ],
    }


def _add_up(
    signed: list[tuple[int, Iterable[tuple[str, str, Any]]]],
) -> dict[tuple[str, str], Decimal]:
    """Signed ``(month, currency, sum)`` rows added up per month and currency."""
    sums: dict[tuple[str, str], Decimal] = {}
    for sign, rows in signed:
        for month, currency, total in rows:
            amount = quantize(Decimal(str(total)), currency) * sign
            sums[(month, currency)] = sums.get((month, currency), Decimal(0)) + amount
    return sums


def aging(ctx: ServiceContext) -> dict[str, Any]:
    """Open balances per currency in buckets of days overdue (see
    :mod:`billingd.domain.reports`); an invoice without a due date is current."""
    with read_transaction():
        today = report_day(ctx)
        cases = [(Invoice.due_date >= earliest, bucket) for bucket, earliest in
                 aging_bounds(today) if earliest is not None]  # fmt: skip
        bucket = peewee.Case(None, [(Invoice.due_date.is_null(), "current"), *cases], "90+")
        rows = (
            Invoice.select(
                Invoice.currency,
                bucket.alias("bucket"),
                fn.COUNT(Invoice.id),
                decimal_sum(Invoice.balance),
            )
            .where(Invoice.status.in_(OPEN))
            .group_by(Invoice.currency, SQL("bucket"))
            .tuples()
        )
        currencies: dict[str, dict[str, dict[str, Any]]] = {}
        for currency, name, count, total in rows:
            zero = quantize(Decimal(0), currency)
            buckets = currencies.setdefault(
                currency, {b: {"amount": zero, "invoices": 0} for b in (*AGING_BUCKETS, "total")}
            )
            amount = quantize(Decimal(str(total)), currency)
            for key in (name, "total"):
                buckets[key]["amount"] += amount
                buckets[key]["invoices"] += count
    return {
        "as_of": today.isoformat(),
        "buckets": list(AGING_BUCKETS),
        "currencies": {
            currency: {
                key: {"amount": str(figures["amount"]), "invoices": figures["invoices"]}
                for key, figures in buckets.items()
            }
            for currency, buckets in sorted(currencies.items())
        },
    }
