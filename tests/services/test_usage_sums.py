"""Usage summed by the database span by span plans as its records one by one (issue 13).

A run sums most clients' unbilled usage in SQL (:mod:`billingd.services.usage_sums`);
these tests hold the sums to the records: the same invoices, lines and late labels
(R-RUN-16, R-INV-2, R-RUN-13), and a span that changed after the sums were read is
not billed from them (R-RUN-9).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from billingd.db.connection import write_transaction
from billingd.db.models import Invoice, InvoiceLine, UsageRecord
from billingd.services import contracts, runs, usage
from billingd.services.billing_items import usage_rows
from billingd.services.context import ServiceContext
from billingd.services.owner_records import load_batch, load_records
from billingd.services.scheduling import plan_owner
from tests.services.test_billing_correctness import add_usage, at, new_client, run

D = Decimal
date = dt.date


def _contract(ctx: ServiceContext, client_id: int, price: str, **terms: Any) -> None:
    contracts.add_contract(
        ctx, client_id=client_id, description="Line", unit_price=D(price), **terms
    )


def _usage_of_a_season(ctx: ServiceContext, client_id: int, contract_ids: list[int]) -> None:
    """Records on every few hours from January to April (Berlin's DST change on 29
    March included), at local midnight and 23:59:59, in two groups and units, with
    and without a contract."""
    rows = []
    instant = dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)
    line = 2
    while instant < dt.datetime(2026, 4, 20, tzinfo=dt.UTC):
        contract = contract_ids[line % len(contract_ids)] if line % 3 else None
        rows.append(
            (
                line,
                {
                    "client": client_id,
                    "occurred_at": instant.isoformat().replace("+00:00", "Z"),
                    "destination_group": "Mobile DE" if line % 2 else "Fixed EU",
                    "quantity": f"{line % 7}.5",
                    "unit": "s" if line % 5 else "sms",
                    "amount": f"0.{line % 97:02d}",
                    **({"contract": contract} if contract else {}),
                },
            )
        )
        line += 1
        instant += dt.timedelta(hours=7, minutes=59, seconds=59)
    for edge in ("2026-01-31T22:59:59Z", "2026-01-31T23:00:00Z", "2026-03-28T23:00:00Z"):
        rows.append((line, {"client": client_id, "occurred_at": edge, "destination_group": "Edge",
                            "quantity": "1", "amount": "1.11"}))  # fmt: skip
        line += 1
    usage.import_usage(ctx, rows)


def _line(line: Any) -> tuple[Any, ...]:
    return (line.kind, line.description, line.quantity, line.unit, line.unit_price, line.net)


def _drafts(plan: Any) -> list[tuple[Any, ...]]:
    return [
        (d.billing_date, d.group.id if d.group else None, d.period, list(map(_line, d.items.lines)))
        for d in plan.drafts
    ]


def test_r_run_16_usage_summed_per_span_plans_as_its_records_one_by_one(
    ctx: ServiceContext, acme
) -> None:
    client = new_client(ctx, acme)
    # billing days inside months: an advance contract anchored on the 15th, an arrears
    # one on the 10th that ends mid-cycle, a weekly one from a Wednesday
    _contract(ctx, client.id, "10.00", cycle="month", start_date=date(2026, 1, 15))
    _contract(
        ctx, client.id, "20.00", cycle="month", start_date=date(2026, 1, 10), timing="arrears",
        end_date=date(2026, 3, 20),
    )  # fmt: skip
    _contract(ctx, client.id, "3.00", cycle="week", start_date=date(2026, 1, 7))
    ids = [c.id for c in contracts.list_contracts(client_id=client.id)]
    _usage_of_a_season(ctx, client.id, ids)
    for as_of in (date(2026, 1, 20), date(2026, 2, 1), date(2026, 3, 29), date(2026, 5, 1)):
        (summed,) = load_records([client]).values()
        assert summed.usage_sums and not summed.usage  # the database summed them
        one_by_one = dataclasses.replace(summed, usage=usage_rows(client), usage_sums=[])
        assert _drafts(plan_owner(client, as_of, summed)) == _drafts(
            plan_owner(client, as_of, one_by_one)
        ), as_of
    run(ctx, date(2026, 2, 10))  # billed up to here; the rest is later and late usage
    add_usage(ctx, client.id, "2026-01-05T10:00:00Z", "9.99")  # late: January's
    for as_of in (date(2026, 3, 1), date(2026, 5, 1)):
        (summed,) = load_records([client]).values()
        one_by_one = dataclasses.replace(summed, usage=usage_rows(client), usage_sums=[])
        planned = _drafts(plan_owner(client, as_of, summed))
        assert planned == _drafts(plan_owner(client, as_of, one_by_one)), as_of
        assert any("late usage 2026-01" in line[1] for d in planned for line in d[3])


def test_r_inv_2_a_run_bills_each_summed_record_once_with_its_count(
    ctx: ServiceContext, acme
) -> None:
    client = new_client(ctx, acme)
    _contract(ctx, client.id, "10.00", cycle="month", start_date=date(2026, 1, 1))
    for n in range(1, 6):
        add_usage(ctx, client.id, f"2026-01-{n:02d}T10:00:00Z", "0.10", external_id=f"c{n}")
    run(ctx, date(2026, 2, 1))
    usage_line = InvoiceLine.get(InvoiceLine.kind == "usage")
    assert (usage_line.description, usage_line.net) == ("Mobile DE (5 records)", D("0.50"))
    billed = {r.invoice_id for r in UsageRecord.select()}
    assert billed == {usage_line.invoice_id}


def test_r_run_9_a_span_that_lost_a_record_after_it_was_summed_is_not_billed_from_the_sum(
    ctx: ServiceContext, acme
) -> None:
    client = new_client(ctx, acme)
    _contract(ctx, client.id, "10.00", cycle="month", start_date=date(2026, 1, 1))
    add_usage(ctx, client.id, "2026-01-10T10:00:00Z", "1.00", external_id="a")
    add_usage(ctx, client.id, "2026-01-11T10:00:00Z", "2.00", external_id="b")
    key = f"client:{client.id}"
    stale = load_batch([key])  # as a daemon's batch read it, before an operator ...
    usage.delete_usage(ctx, UsageRecord.get(UsageRecord.external_id == "b").id)  # ... deleted
    with write_transaction():
        result = runs.bill_client(ctx.at(at(date(2026, 2, 1))), key, date(2026, 2, 1), 24, stale)
    # January's invoice went out; February's (its usage changed) is left to the next run
    assert (result.invoices, result.error) == (1, None)
    assert UsageRecord.get().invoice_id is None
    run(ctx, date(2026, 2, 1))
    february = Invoice.select().order_by(Invoice.id.desc()).get()
    lines = [(ln.kind, ln.description, ln.net) for ln in february.lines]
    assert lines == [lines[0], ("usage", "Mobile DE (1 records)", D("1.00"))]
    assert UsageRecord.get().invoice_id == february.id


def test_r_run_9_a_record_added_after_its_span_was_summed_waits_for_a_later_invoice(
    ctx: ServiceContext, acme
) -> None:
    client = new_client(ctx, acme)
    _contract(ctx, client.id, "10.00", cycle="month", start_date=date(2026, 1, 1))
    add_usage(ctx, client.id, "2026-01-10T10:00:00Z", "1.00")
    key = f"client:{client.id}"
    stale = load_batch([key])
    add_usage(ctx, client.id, "2026-01-11T10:00:00Z", "2.00")
    with write_transaction():
        result = runs.bill_client(ctx.at(at(date(2026, 2, 1))), key, date(2026, 2, 1), 24, stale)
    assert result.invoices == 2  # January's cycle; February's with the record summed
    february = Invoice.select().order_by(Invoice.id.desc()).get()
    assert [ln.net for ln in february.lines if ln.kind == "usage"] == [D("1.00")]
    run(ctx, date(2026, 3, 1))  # the later record: late usage on March's invoice
    march = Invoice.select().order_by(Invoice.id.desc()).get()
    assert [(ln.description, ln.net) for ln in march.lines if ln.kind == "usage"] == [
        ("Mobile DE (1 records, late usage 2026-01)", D("2.00"))
    ]
    assert UsageRecord.select().where(UsageRecord.invoice.is_null()).count() == 0
