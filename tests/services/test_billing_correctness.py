"""Regression tests for issue 9's defects, one per rule, on both backends.

Each test reproduces a combination that billed wrongly (docs/billing-rules.md has
the rules with worked examples).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billingd.ctl_commands.runs import dry_run_rows
from billingd.db.models import Invoice, UsageRecord
from billingd.errors import RuleViolation
from billingd.services import contracts, invoice_actions, invoicing, parties, runs, usage
from billingd.services.context import ServiceContext
from billingd.views import invoice_view

D = Decimal
date = dt.date


def at(day: date) -> dt.datetime:
    """Mid-morning UTC of a day: the same calendar day in Europe/Berlin."""
    return dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)


def run(ctx: ServiceContext, as_of: date, on: date | None = None, client: int | None = None):  # type: ignore[no-untyped-def]
    """The run as of ``as_of``, performed on ``on`` (default: that day)."""
    return runs.run_all(ctx.at(at(on or as_of)), as_of=as_of, client_id=client)


def new_client(ctx: ServiceContext, acme, **fields):  # type: ignore[no-untyped-def]
    return parties.add_client(ctx, name=fields.pop("name", "C"), enterprise_id=acme.id, **fields)


def monthly(ctx: ServiceContext, start: date, price: str = "100.00", **owner):  # type: ignore[no-untyped-def]
    return contracts.add_contract(
        ctx,
        description="Hosted PBX",
        unit_price=D(price),
        cycle="month",
        start_date=start,
        **owner,
    )


def add_usage(ctx: ServiceContext, client_id: int, at_utc: str, amount: str, **extra) -> None:  # type: ignore[no-untyped-def]
    row = {
        "client": client_id,
        "occurred_at": at_utc,
        "destination_group": extra.pop("group", "Mobile DE"),
        "quantity": "60",
        "amount": amount,
        **extra,
    }
    usage.import_usage(ctx, [(2, row)])


def invoices_of(**owner) -> list[Invoice]:  # type: ignore[no-untyped-def]
    column, value = next(iter(owner.items()))
    query = Invoice.select().where(getattr(Invoice, column) == value).order_by(Invoice.id)
    return list(query)


def line_kinds(invoice: Invoice) -> list[str]:
    return [line.kind for line in invoice.lines]


# ---------------------------------------------------------------- defect 1: manual orders


def test_r_run_6_first_manual_invoice_bills_the_period_it_names(ctx: ServiceContext, acme) -> None:
    c = new_client(ctx, acme)
    monthly(ctx, date(2030, 1, 1), client_id=c.id, origin="manual")
    run(ctx, date(2030, 1, 31))
    assert invoices_of(client=c.id) == []  # a manual order waits for its first invoice
    first = invoicing.invoice_for_period(
        ctx.at(at(date(2030, 2, 1))),
        client_id=c.id,
        period_start=date(2030, 1, 1),
        period_end=date(2030, 1, 31),
    ).invoice
    assert [(line.cycle_start, line.cycle_end) for line in first.lines] == [
        (date(2030, 1, 1), date(2030, 1, 31))
    ]
    run(ctx, date(2030, 3, 1))
    later = invoices_of(client=c.id)[1:]
    # cycles stay on the contract's anchor; invoices follow the first invoice's day (the 1st)
    assert [(i.billing_date, i.lines[0].cycle_start) for i in later] == [
        (date(2030, 2, 1), date(2030, 2, 1)),
        (date(2030, 3, 1), date(2030, 3, 1)),
    ]


def test_r_run_6_seed_002_june_3_gives_july_3_for_the_july_cycle(ctx: ServiceContext, acme) -> None:
    c = new_client(ctx, acme)
    monthly(ctx, date(2026, 6, 1), client_id=c.id, origin="manual")
    invoicing.invoice_for_period(
        ctx.at(at(date(2026, 6, 3))),
        client_id=c.id,
        period_start=date(2026, 6, 1),
        period_end=date(2026, 6, 30),
    )
    run(ctx, date(2026, 7, 2))
    assert len(invoices_of(client=c.id)) == 1  # the July cycle is ordered July 1, invoiced July 3
    run(ctx, date(2026, 7, 3))
    july = invoices_of(client=c.id)[-1]
    assert july.billing_date == date(2026, 7, 3) == july.issue_date
    assert (july.lines[0].cycle_start, july.lines[0].cycle_end) == (
        date(2026, 7, 1),
        date(2026, 7, 31),
    )


# ---------------------------------------------------------------- defect 2: usage per cycle


def test_r_run_16_usage_of_a_client_billed_per_cycle_is_invoiced(ctx: ServiceContext, acme) -> None:
    c = new_client(ctx, acme)
    monthly(ctx, date(2026, 1, 1), client_id=c.id)
    add_usage(ctx, c.id, "2026-01-10T12:00:00Z", "3.00")
    add_usage(ctx, c.id, "2026-01-31T22:59:59Z", "2.00")  # 23:59:59 in Berlin: January
    add_usage(ctx, c.id, "2026-01-31T23:00:00Z", "7.00")  # 00:00 Feb 1 in Berlin: February
    run(ctx, date(2026, 2, 1))
    january, february = invoices_of(client=c.id)
    assert line_kinds(january) == ["contract"]
    assert line_kinds(february) == ["contract", "usage"]
    assert [line.net for line in february.lines] == [D("100.00"), D("5.00")]
    run(ctx, date(2026, 3, 1))
    assert [line.net for line in invoices_of(client=c.id)[-1].lines] == [D("100.00"), D("7.00")]
    assert UsageRecord.select().where(UsageRecord.invoice.is_null()).count() == 0


def test_r_run_16_usage_without_any_invoice_due_is_billed_on_the_1st(
    ctx: ServiceContext, acme
) -> None:
    only_usage = new_client(ctx, acme, name="Usage only")
    yearly = new_client(ctx, acme, name="Yearly")
    contracts.add_contract(
        ctx,
        client_id=yearly.id,
        description="Domain",
        unit_price=D("12.00"),
        cycle="year",
        start_date=date(2026, 1, 1),
    )
    for c in (only_usage, yearly):
        add_usage(ctx, c.id, "2026-01-20T12:00:00Z", "4.00")
        add_usage(ctx, c.id, "2026-02-20T12:00:00Z", "6.00")
    run(ctx, date(2026, 3, 1))
    assert [(i.billing_date, i.subtotal) for i in invoices_of(client=only_usage.id)] == [
        (date(2026, 2, 1), D("4.00")),
        (date(2026, 3, 1), D("6.00")),
    ]
    assert [(i.billing_date, i.subtotal) for i in invoices_of(client=yearly.id)] == [
        (date(2026, 1, 1), D("12.00")),
        (date(2026, 2, 1), D("4.00")),
        (date(2026, 3, 1), D("6.00")),
    ]


def test_r_run_16_charges_of_a_client_billed_per_cycle_are_invoiced(
    ctx: ServiceContext, acme
) -> None:
    from billingd.services import charges

    c = new_client(ctx, acme)
    monthly(ctx, date(2026, 1, 1), client_id=c.id)
    run(ctx, date(2026, 1, 1))
    charges.add_charge(
        ctx.at(at(date(2026, 1, 10))), client_id=c.id, description="Setup", amount=D("50.00")
    )
    charges.add_charge(
        ctx, client_id=c.id, description="Visit", amount=D("80.00"), schedule_date=date(2026, 3, 1)
    )
    run(ctx, date(2026, 3, 1))
    feb, mar = invoices_of(client=c.id)[1:]
    assert [line.description for line in feb.lines if line.kind == "charge"] == ["Setup"]
    assert [line.description for line in mar.lines if line.kind == "charge"] == ["Visit"]


# ---------------------------------------------------------------- defect 3: resellers


def test_r_run_16_resellers_are_scheduled_and_usage_billed_once_to_each_party(
    ctx: ServiceContext, acme
) -> None:
    reseller = parties.add_reseller(ctx, name="VoIP Resale", enterprise_id=acme.id)
    monthly(ctx, date(2026, 1, 1), "500.00", reseller_id=reseller.id)
    c = new_client(ctx, acme, reseller_id=reseller.id, invoice_days="1")
    add_usage(ctx, c.id, "2026-01-15T12:00:00Z", "9.00")
    run(ctx, date(2026, 1, 1))
    assert [i.subtotal for i in invoices_of(reseller=reseller.id)] == [D("500.00")]
    run(ctx, date(2026, 2, 1))
    (client_invoice,) = invoices_of(client=c.id)
    assert [i.subtotal for i in invoices_of(reseller=reseller.id)] == [D("500.00"), D("509.00")]
    record = UsageRecord.get()
    assert record.invoice_id == client_invoice.id  # billed once to the client…
    assert record.reseller_invoice_id == invoices_of(reseller=reseller.id)[-1].id  # …and once to R
    run(ctx, date(2026, 3, 1))
    assert [i.subtotal for i in invoices_of(reseller=reseller.id)][-1] == D("500.00")


def test_r_inv_3_manual_reseller_invoice_does_not_take_the_clients_usage(
    ctx: ServiceContext, acme
) -> None:
    reseller = parties.add_reseller(ctx, name="R", enterprise_id=acme.id)
    c = new_client(ctx, acme, reseller_id=reseller.id)
    add_usage(ctx, c.id, "2026-01-15T12:00:00Z", "9.00")
    period = {"period_start": date(2026, 1, 1), "period_end": date(2026, 1, 31)}
    invoicing.invoice_for_period(ctx, reseller_id=reseller.id, **period)
    own = invoicing.invoice_for_period(ctx, client_id=c.id, **period).invoice
    assert own.subtotal == D("9.00")
    with pytest.raises(RuleViolation):  # both parties billed it: nothing left for either
        invoicing.invoice_for_period(ctx, reseller_id=reseller.id, **period)


# ---------------------------------------------------------------- defect 4: same-day contract


def test_r_run_9_contract_added_after_the_days_invoice_is_billed(ctx: ServiceContext, acme) -> None:
    c = new_client(ctx, acme)
    monthly(ctx, date(2026, 2, 1), client_id=c.id)
    run(ctx, date(2026, 2, 1))
    monthly(ctx, date(2026, 2, 1), "30.00", client_id=c.id)  # added in the afternoon
    run(ctx, date(2026, 2, 1))
    first, second = invoices_of(client=c.id)
    assert (first.subtotal, second.subtotal) == (D("100.00"), D("30.00"))
    assert first.billing_date == second.billing_date == date(2026, 2, 1)
    run(ctx, date(2026, 2, 1))
    assert len(invoices_of(client=c.id)) == 2  # exactly once per cycle


# ---------------------------------------------------------------- defect 5: dry run = run


def test_r_run_16_dry_run_projects_exactly_what_the_run_issues(ctx: ServiceContext, acme) -> None:
    c = new_client(ctx, acme, invoice_days="1,15")
    monthly(ctx, date(2026, 1, 1), "500.00", client_id=c.id)
    for day in ("2026-01-03", "2026-01-20", "2026-02-07"):
        add_usage(ctx, c.id, f"{day}T12:00:00Z", "0.70")
    on = ctx.at(at(date(2026, 3, 2)))
    planned = list(runs.iter_dry_run(date(2026, 3, 1), None, on.today))
    run(ctx, date(2026, 3, 1), on=date(2026, 3, 2))
    issued = [invoice_view(i) for i in invoices_of(client=c.id)]
    keys = ("billing_date", "issue_date", "period_start", "period_end", "total")
    assert [{k: p[k] for k in keys} for p in planned] == [{k: i[k] for k in keys} for i in issued]
    # each cycle and record once: Jan 15 (cycle + Jan 3), Feb 1 (Jan 20), Feb 15 (cycle + Feb 7)
    assert [p["total"] for p in planned] == ["595.83", "0.83", "595.83"]
    table = dry_run_rows({"invoices": planned})
    assert {(row["client"], row["group"]) for row in table} == {("C", "Default")}
    assert [row["due_for"] for row in table] == [p["billing_date"] for p in planned]


# ---------------------------------------------------------------- defect 6: bill groups


def test_r_run_17_invoices_are_generated_per_bill_group(ctx: ServiceContext, acme) -> None:
    c = new_client(ctx, acme, email="ap@example.com", address="Berlin")
    ariba = parties.add_bill_group(
        ctx, client_id=c.id, name="Ariba HQ", address="1 Park Row, Leeds", emails="ariba@ex.com"
    )
    monthly(ctx, date(2026, 1, 1), client_id=c.id)
    leeds = monthly(ctx, date(2026, 1, 1), "40.00", client_id=c.id, bill_group_id=ariba.id)
    add_usage(ctx, c.id, "2026-01-05T12:00:00Z", "2.00")  # names no contract: the default group
    add_usage(ctx, c.id, "2026-01-06T12:00:00Z", "3.00", contract=leeds.id)
    run(ctx, date(2026, 2, 1))
    feb = [i for i in invoices_of(client=c.id) if i.billing_date == date(2026, 2, 1)]
    by_group = {i.bill_group_id: i for i in feb}
    default = parties.default_bill_group(c)
    assert set(by_group) == {default.id, ariba.id}
    assert by_group[default.id].subtotal == D("102.00")
    assert by_group[ariba.id].subtotal == D("43.00")
    view = invoice_view(by_group[ariba.id])
    assert view["bill_group_id"] == ariba.id
    assert view["bill_to"]["address"] == "1 Park Row, Leeds"
    assert view["bill_to"]["email"] == "ariba@ex.com"
    assert invoice_view(by_group[default.id])["bill_to"]["address"] == "Berlin"
    sent = invoice_actions.send_invoice(ctx, by_group[ariba.id].id)
    assert sent.recipient == "ariba@ex.com"  # the group's recipients, not the client's email
    assert invoice_actions.send_invoice(ctx, by_group[default.id].id).recipient == "ap@example.com"


def test_r_run_17_manual_bill_group_waits_for_the_operator(ctx: ServiceContext, acme) -> None:
    c = new_client(ctx, acme)
    manual = parties.add_bill_group(ctx, client_id=c.id, name="By hand", invoicing="manual")
    monthly(ctx, date(2026, 1, 1), client_id=c.id, bill_group_id=manual.id)
    run(ctx, date(2026, 3, 1))
    assert invoices_of(client=c.id) == []
    made = invoicing.invoice_for_period(
        ctx, client_id=c.id, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31)
    )
    assert [i.bill_group_id for i in made.invoices] == [manual.id]


# ---------------------------------------------------------------- defect 8: numbers by date


def test_r_num_6_backlog_is_issued_on_the_day_it_is_generated(ctx: ServiceContext, acme) -> None:
    c = new_client(ctx, acme)
    monthly(ctx, date(2026, 1, 1), client_id=c.id)
    run(ctx, date(2026, 3, 1), on=date(2026, 3, 5))  # the daemon was down until March 5
    backlog = invoices_of(client=c.id)
    assert [(i.billing_date, i.issue_date) for i in backlog] == [
        (date(2026, 1, 1), date(2026, 3, 5)),
        (date(2026, 2, 1), date(2026, 3, 5)),
        (date(2026, 3, 1), date(2026, 3, 5)),
    ]
    assert [i.number for i in backlog] == ["100001/2026", "100002/2026", "100003/2026"]
    assert (backlog[0].period_start, backlog[0].period_end) == (date(2026, 1, 1), date(2026, 1, 31))
    with pytest.raises(RuleViolation) as refused:
        invoicing.invoice_for_amount(
            ctx, client_id=c.id, issue_date=date(2026, 3, 4), amount=D("11.90")
        )
    assert refused.value.data["rule"] == "R-NUM-6"
    assert len(invoices_of(client=c.id)) == 3  # nothing written
