"""Automatic generation (SPEC §7, R-RUN-2..14) at the service layer, on both backends."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from billingd.db.models import (
    AuditEvent,
    BilledCycle,
    ChargeAttempt,
    Contract,
    Invoice,
    InvoiceLine,
    UsageRecord,
)
from billingd.services import (
    contracts,
    invoice_actions,
    invoicing,
    parties,
    payments,
    runs,
    usage,
)
from billingd.services.context import ServiceContext
from billingd_plugins.sandbox import SANDBOX

D = Decimal
date = dt.date


@pytest.fixture
def acme(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    return parties.add_enterprise(
        ctx, name="Acme", currency="EUR", timezone="Europe/Berlin", tax_rate=D("19")
    )


def client(ctx: ServiceContext, enterprise, **fields):  # type: ignore[no-untyped-def]
    return parties.add_client(ctx, name="C", enterprise_id=enterprise.id, **fields)


def contract(ctx: ServiceContext, owner, start: date, **fields):  # type: ignore[no-untyped-def]
    fields.setdefault("cycle", "month")
    return contracts.add_contract(
        ctx,
        client_id=owner.id,
        description="Service",
        unit_price=fields.pop("price", D("10.00")),
        start_date=start,
        **fields,
    )


def record_usage(  # type: ignore[no-untyped-def]
    ctx: ServiceContext,
    owner,
    stamps: list[str],
    amount: str,
    group: str = "G",
    quantity: str = "1",
) -> None:
    """One usage record per UTC timestamp, all of one group, quantity and amount."""
    rows = [
        {
            "client": owner.id,
            "occurred_at": at,
            "destination_group": group,
            "quantity": quantity,
            "amount": amount,
        }
        for at in stamps
    ]
    usage.import_usage(ctx, enumerate(rows, start=2))


def run(ctx: ServiceContext, as_of: date, limit: int = 24):  # type: ignore[no-untyped-def]
    """A run performed on the day it bills (the nightly run of ``as_of``)."""
    at = dt.datetime.combine(as_of, dt.time(10), tzinfo=dt.UTC)
    return runs.run_all(ctx.at(at), as_of=as_of, limit=limit)


def billed_on(invoice: Invoice) -> date:
    """The date an invoice was due for: its billing date, or a manual invoice's issue date.

    A run that bills late issues on the day it runs and keeps the billing date (R-NUM-6)."""
    return invoice.billing_date or invoice.issue_date


def issued(owner) -> list[Invoice]:  # type: ignore[no-untyped-def]
    invoices = Invoice.select().where(Invoice.client == owner)
    return sorted(invoices, key=lambda i: (billed_on(i), i.id))


def cycle_spans(owner) -> list[tuple[date, date]]:  # type: ignore[no-untyped-def]
    lines = (
        InvoiceLine.select()
        .join(Invoice)
        .where((Invoice.client == owner) & (InvoiceLine.kind == "contract"))
    )
    return sorted((line.cycle_start, line.cycle_end) for line in lines)


def assert_contiguous(spans: list[tuple[date, date]]) -> None:
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start == end + dt.timedelta(days=1), spans


def monthly_as_of(start: date, months: int):  # type: ignore[no-untyped-def]
    """The 1st of each month from ``start`` for ``months`` months (a nightly run, sampled)."""
    year, month = start.year, start.month
    for _ in range(months):
        yield date(year, month, 1)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


# ---------------------------------------------------------------- cycles and anchors


def test_r_run_4_month_end_anchor_over_24_months(ctx: ServiceContext, acme) -> None:
    c = client(ctx, acme)
    contract(ctx, c, date(2026, 1, 31))
    for as_of in monthly_as_of(date(2026, 2, 1), 25):
        run(ctx, as_of + dt.timedelta(days=30))
    days = [billed_on(i) for i in issued(c)]
    assert days[:4] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    assert date(2028, 2, 29) in days
    assert len(days) == len(set(days)) >= 24
    assert_contiguous(cycle_spans(c))


@pytest.mark.parametrize(("unit", "count"), [("week", 105), ("year", 3), ("day", 60)])
def test_r_run_4_weekly_yearly_daily_cycles(
    ctx: ServiceContext, acme, unit: str, count: int
) -> None:
    c = client(ctx, acme)
    contract(ctx, c, date(2026, 1, 1), cycle=unit)
    end = {"week": date(2027, 12, 31), "year": date(2028, 6, 1), "day": date(2026, 3, 1)}[unit]
    run(ctx, end, limit=1000)
    spans = cycle_spans(c)
    assert len(spans) == count
    assert spans[0][0] == date(2026, 1, 1)
    assert_contiguous(spans)


def test_r_run_4_arrears_invoiced_after_cycle_end_with_its_usage(ctx: ServiceContext, acme) -> None:
    c = client(ctx, acme)
    contract(ctx, c, date(2026, 1, 1), timing="arrears")
    record_usage(
        ctx, c, ["2026-01-31T22:59:59Z", "2026-01-31T23:00:00Z", "2026-02-15T12:00:00Z"], "1.00"
    )
    run(ctx, date(2026, 1, 31))
    assert issued(c) == []  # R-RUN-5: not at creation, not before the cycle ended
    run(ctx, date(2026, 2, 1))
    first = issued(c)[0]
    assert (billed_on(first), first.period_start, first.period_end) == (
        date(2026, 2, 1),
        date(2026, 1, 1),
        date(2026, 1, 31),
    )
    assert first.subtotal == D("11.00")
    run(ctx, date(2026, 3, 1))
    assert [i.subtotal for i in issued(c)] == [D("11.00"), D("12.00")]
    assert UsageRecord.select().where(UsageRecord.invoice.is_null()).count() == 0


# ---------------------------------------------------------------- invoice days


@pytest.mark.parametrize("days", ["1,15", "15,31"])
def test_r_run_3_invoice_days_periods(ctx: ServiceContext, acme, days: str) -> None:
    c = client(ctx, acme, invoice_days=days)
    contract(ctx, c, date(2026, 1, 1))
    stamps = [f"2026-{m:02d}-{d:02d}T11:00:00Z" for m in range(1, 13) for d in (1, 14, 15, 28)]
    record_usage(ctx, c, stamps, "0.50")
    for as_of in monthly_as_of(date(2026, 1, 1), 14):
        run(ctx, as_of + dt.timedelta(days=16))
    invoices = issued(c)
    # 2026 has usage in every period, so every 2026 period has its invoice
    assert_contiguous(
        [(i.period_start, i.period_end) for i in invoices if i.period_end <= date(2026, 12, 31)]
    )
    for invoice in invoices:
        assert billed_on(invoice) == invoice.period_end + dt.timedelta(days=1)
        assert billed_on(invoice).day in ({1, 15} if days == "1,15" else {15, 28, 29, 30, 31})
    if days == "15,31":
        assert date(2026, 2, 28) in [billed_on(i) for i in invoices]
    assert UsageRecord.select().where(UsageRecord.invoice.is_null()).count() == 0
    assert len(cycle_spans(c)) == 14  # January 2026 through February 2027, each once
    assert_contiguous(cycle_spans(c))


# ---------------------------------------------------------------- DST, catch-up, exactly once


@pytest.mark.parametrize("timezone", ["Europe/Berlin", "America/New_York"])
def test_r_time_2_usage_around_dst_weekends_billed_once(ctx: ServiceContext, timezone: str) -> None:
    e = parties.add_enterprise(ctx, name="Z", currency="EUR", timezone=timezone)
    c = client(ctx, e, invoice_days="1")
    contract(ctx, c, date(2026, 1, 1), timing="arrears")
    stamps = []
    for day in (
        date(2026, 3, 8),
        date(2026, 3, 29),
        date(2026, 10, 25),
        date(2026, 11, 1),
        date(2026, 3, 31),
        date(2026, 10, 31),
    ):
        for hour in range(0, 24, 3):
            stamps.append(f"{day}T{hour:02d}:59:59Z")
    record_usage(ctx, c, stamps, "0.01")
    for as_of in monthly_as_of(date(2026, 2, 1), 12):
        run(ctx, as_of)
    assert UsageRecord.select().where(UsageRecord.invoice.is_null()).count() == 0
    for record in UsageRecord.select():
        invoice = record.invoice
        local = (
            record.occurred_at.replace(tzinfo=dt.UTC)
            .astimezone(__import__("zoneinfo").ZoneInfo(timezone))
            .date()
        )
        assert invoice.period_start <= local <= invoice.period_end


def test_r_run_2_outage_bills_each_missed_period_separately(ctx: ServiceContext, acme) -> None:
    c = client(ctx, acme, invoice_days="1,15")
    contract(ctx, c, date(2026, 1, 1))
    stamps = [f"{date(2026, 1, 3) + dt.timedelta(days=5 * n)}T12:00Z" for n in range(18)]
    record_usage(ctx, c, stamps, "0.10")
    run(ctx, date(2026, 1, 1))
    run(ctx, date(2026, 1, 1) + dt.timedelta(days=92))
    periods = [(billed_on(i), i.period_start, i.period_end) for i in issued(c)]
    assert periods == [
        (date(2026, 1, 15), date(2026, 1, 1), date(2026, 1, 14)),
        (date(2026, 2, 1), date(2026, 1, 15), date(2026, 1, 31)),
        (date(2026, 2, 15), date(2026, 2, 1), date(2026, 2, 14)),
        (date(2026, 3, 1), date(2026, 2, 15), date(2026, 2, 28)),
        (date(2026, 3, 15), date(2026, 3, 1), date(2026, 3, 14)),
        (date(2026, 4, 1), date(2026, 3, 15), date(2026, 3, 31)),
    ]


def test_r_run_9_rerun_creates_nothing_twice(ctx: ServiceContext, acme) -> None:
    c = client(ctx, acme)
    contract(ctx, c, date(2026, 1, 1))
    run(ctx, date(2026, 6, 1))
    before = [i.number for i in issued(c)]
    run(ctx, date(2026, 6, 1))
    run(ctx, date(2026, 6, 1))
    assert [i.number for i in issued(c)] == before and len(before) == 6
    assert BilledCycle.select().count() == 6  # one claim per cycle (R-RUN-9)


# ---------------------------------------------------------------- failures and parking


def test_r_run_10_failing_client_does_not_stop_the_run(ctx: ServiceContext, acme) -> None:
    bad = client(ctx, acme)
    good = client(ctx, acme)
    for owner in (bad, good):
        contract(ctx, owner, date(2026, 1, 1))
    # data no check would let in (a row written by hand): billing this client raises
    Contract.update(cycle="fortnight").where(Contract.client == bad.id).execute()
    result = run(ctx, date(2026, 1, 1))
    assert (result.invoices, result.failures) == (1, 1)
    assert result.errors[0].client_id == bad.id and "fortnight" in result.errors[0].message
    assert issued(bad) == [] and len(issued(good)) == 1
    Contract.update(cycle="month").where(Contract.client == bad.id).execute()
    assert run(ctx, date(2026, 1, 1)).invoices == 1  # retried at the next run
    assert len(issued(bad)) == 1


def test_r_run_14_catch_up_beyond_bound_parks(ctx: ServiceContext, acme) -> None:
    c = client(ctx, acme)
    contract(ctx, c, date(2020, 1, 1))
    result = run(ctx, date(2026, 1, 1), limit=24)
    assert result.parked == 1 and issued(c) == []
    parked = runs.list_parked()
    assert parked[0].client_id == c.id and "safety bound" in parked[0].reason
    assert run(ctx, date(2026, 1, 1), limit=24).invoices == 0
    runs.release(ctx, c.id)
    assert run(ctx, date(2026, 1, 1), limit=100).invoices == 73


# ---------------------------------------------------------------- first invoice and origins


def test_r_run_5_bill_group_manual_or_cancelled_never_automatic(ctx: ServiceContext, acme) -> None:
    c = client(ctx, acme)
    group = parties.list_bill_groups(c.id)[0]
    contract(ctx, c, date(2026, 1, 1))
    parties.update_bill_group(ctx, group.id, invoicing="manual")
    run(ctx, date(2026, 3, 1))
    parties.update_bill_group(ctx, group.id, invoicing="auto", status="cancelled")
    run(ctx, date(2026, 3, 1))
    assert issued(c) == []
    parties.update_bill_group(ctx, group.id, status="active")
    run(ctx, date(2026, 3, 1))
    assert len(issued(c)) == 3


def test_r_run_6_manual_order_anchored_on_first_invoice(ctx: ServiceContext, acme) -> None:
    c = client(ctx, acme)
    contract(ctx, c, date(2026, 6, 1), origin="manual")
    run(ctx, date(2026, 6, 10))
    assert issued(c) == []
    first = invoicing.invoice_for_period(
        ctx,
        client_id=c.id,
        period_start=date(2026, 6, 1),
        period_end=date(2026, 6, 30),
        issue_date=date(2026, 6, 3),
    ).invoice
    assert first.issue_date == date(2026, 6, 3)
    run(ctx, date(2026, 8, 5))
    assert [billed_on(i) for i in issued(c)] == [
        date(2026, 6, 3),
        date(2026, 7, 3),
        date(2026, 8, 3),
    ]


def test_r_run_7_self_checkout_charges_and_stops_on_failure(
    ctx: ServiceContext, acme, tmp_path
) -> None:
    SANDBOX.configure({"state_file": str(tmp_path / "sandbox.jsonl"), "fail_amounts": ["13.00"]})
    try:
        ok = client(ctx, acme)
        contract(
            ctx,
            ok,
            date(2026, 1, 1),
            origin="self_checkout",
            payment_method="sandbox",
            tax_rate=D("0"),
        )
        failing = client(ctx, acme)
        contract(
            ctx,
            failing,
            date(2026, 1, 1),
            origin="self_checkout",
            payment_method="sandbox",
            price=D("13.00"),
            tax_rate=D("0"),
        )
        run(ctx, date(2026, 3, 1))
        assert [i.status for i in issued(ok)] == ["paid", "paid", "paid"]
        assert [i.status for i in issued(failing)] == ["open"]  # no further cycle
        # told through the notifiers (tests/delivery/test_gateway_retries.py), audited
        (failed,) = AuditEvent.select().where(AuditEvent.event == "payment.failed")
        assert failed.details["attempt"] == 1 and failed.details["next_retry_at"] is not None
        assert len(SANDBOX.charges()) == 4
        payments.record_payment(ctx, client_id=failing.id, amount=D("13.00"))
        SANDBOX.configure({"state_file": str(tmp_path / "sandbox.jsonl")})  # the card works now
        run(ctx, date(2026, 3, 1))
        assert [i.status for i in issued(failing)] == ["paid", "paid", "paid"]  # caught up
    finally:
        SANDBOX.configure({})


def test_r_run_7_crash_between_charge_and_record_never_charges_twice(
    ctx: ServiceContext, acme, tmp_path
) -> None:
    from billingd.services.gateway_charges import resume_pending_charges

    SANDBOX.configure({"state_file": str(tmp_path / "sandbox.jsonl")})
    try:
        c = client(ctx, acme)
        contract(ctx, c, date(2026, 1, 1), origin="self_checkout", payment_method="sandbox")
        invoice = invoicing.invoice_for_amount(
            ctx, client_id=c.id, issue_date=date(2026, 1, 1), amount=D("11.90")
        )[0]
        ChargeAttempt.create(
            invoice=invoice,
            contract=c.contracts[0],
            gateway="sandbox",
            idempotency_key="k-1",
            amount=D("11.90"),
        )
        SANDBOX.charge({}, "11.90", "k-1")  # charged, then the daemon died
        assert resume_pending_charges(ctx) == 1
        assert Invoice.get_by_id(invoice.id).status == "paid"
        assert len(SANDBOX.charges()) == 1
    finally:
        SANDBOX.configure({})


def test_r_run_8_imported_not_back_billed_cancelled_final_arrears(
    ctx: ServiceContext, acme
) -> None:
    c = client(ctx, acme)
    imported = contract(ctx, c, date(2025, 1, 1), origin="imported")
    run(ctx, ctx.today("Europe/Berlin"))
    today = ctx.today("Europe/Berlin")
    assert all(i.issue_date >= today.replace(day=1) for i in issued(c))
    assert imported.origin == "imported"
    other = client(ctx, acme)
    ended = contract(ctx, other, date(2026, 1, 1), timing="arrears")
    contracts.cancel_contract(ctx, ended.id, date(2026, 2, 14))
    run(ctx, date(2026, 6, 1))
    assert cycle_spans(other) == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 14)),
    ]
    assert issued(other)[-1].subtotal == D("5.00")  # 14 of 28 days


# ---------------------------------------------------------------- review window, late usage


def test_r_run_12_review_window_drafts_then_issues(ctx: ServiceContext, acme) -> None:
    c = client(ctx, acme)
    group = parties.list_bill_groups(c.id)[0]
    parties.update_bill_group(ctx, group.id, review_days=3)
    contract(ctx, c, date(2026, 1, 1))
    run(ctx, date(2026, 1, 1))
    (draft,) = issued(c)
    assert (draft.status, draft.number) == ("draft", None)
    invoice_actions.approve_invoice(ctx.at(dt.datetime(2026, 1, 2, 10, tzinfo=dt.UTC)), draft.id)
    assert Invoice.get_by_id(draft.id).number is not None
    run(ctx, date(2026, 2, 1))
    february = issued(c)[-1]
    assert february.status == "draft"
    run(ctx, date(2026, 2, 4))  # the window ended: issued by the run
    assert Invoice.get_by_id(february.id).status == "open"


def test_r_run_13_late_usage_goes_on_next_invoice_labelled(ctx: ServiceContext, acme) -> None:
    c = client(ctx, acme, invoice_days="1")
    contract(ctx, c, date(2026, 1, 1))
    run(ctx, date(2026, 2, 1))
    record_usage(ctx, c, ["2026-01-20T10:00:00Z"], "0.60", group="Mobile DE", quantity="60")
    run(ctx, date(2026, 3, 1))
    late = [line for line in issued(c)[-1].lines if line.kind == "usage"]
    assert [line.description for line in late] == ["Mobile DE (1 records, late usage 2026-01)"]
    run(ctx, date(2026, 4, 1))
    assert billed_on(UsageRecord.get().invoice) == date(2026, 3, 1)
