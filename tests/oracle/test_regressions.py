"""Counterexamples the billing oracle found, each as a minimal explicit test named after
the rule of docs/billing-rules.md it breaks. On SQLite and PostgreSQL (the ``ctx``
fixture of tests/conftest.py, with the oracle's clock instead of the system clock).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billingd.db.models import Invoice, PendingCharge, PriceOverride, UsageRecord
from billingd.services import charges, contracts, invoicing, parties, runs, usage
from billingd.services.context import ServiceContext

from .checks import invariant_problems
from .clock import OracleClock, local

D = Decimal
BERLIN = "Europe/Berlin"


@pytest.fixture
def acme(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    """The enterprise of docs/billing-rules.md's examples, on the oracle's clock."""
    ctx.clock = OracleClock(local(dt.date(2030, 1, 10), BERLIN, 9))
    return parties.add_enterprise(
        ctx,
        name="Acme",
        currency="EUR",
        timezone=BERLIN,
        tax_rate=D("19"),
        invoice_pattern="%num%/%year%",
        invoice_start=100001,
        payment_terms=14,
    )


def move(ctx: ServiceContext, day: dt.date, hour: int = 2) -> dt.date:
    ctx.clock.set(local(day, BERLIN, hour))
    return day


def run(ctx: ServiceContext, day: dt.date) -> list[Invoice]:
    """The nightly run of ``day``; the invoices it issued."""
    before = {i.id for i in Invoice.select(Invoice.id)}
    runs.run_all(ctx, as_of=move(ctx, day), limit=1000)
    return list(Invoice.select().where(Invoice.id.not_in(list(before))).order_by(Invoice.id))


def record(ctx: ServiceContext, client_id: int, at: dt.datetime, amount: str, n: int) -> int:
    row = {
        "client": client_id,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "destination_group": "Mobile DE",
        "quantity": "60",
        "unit": "s",
        "amount": amount,
        "external_id": f"r{n}",
    }
    usage.import_usage(ctx, [(1, row)])
    return UsageRecord.get(UsageRecord.external_id == f"r{n}").id


def test_r_run_15_a_charge_is_ready_on_the_clocks_day_it_was_added(
    ctx: ServiceContext, acme
) -> None:
    """A pending charge without a schedule date is ready "the day it was added"
    (docs/billing-rules.md, billable items), a day of the service's clock (R-RUN-15).

    Found by the oracle (its first counterexample, fixed alongside in 068599c): the day
    added was PendingCharge.created_at, the system time, so a charge added on 2030-03-10
    by the clock was billed on a scheduled invoice for 2027-01-01 (the 1st after the day
    the test ran)."""
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id)
    move(ctx, dt.date(2030, 3, 10), 10)
    charge = charges.add_charge(ctx, client_id=client.id, description="Setup", amount=D("50.00"))
    assert run(ctx, dt.date(2030, 3, 11)) == []  # per cycle: its billing date is April 1
    (invoice,) = run(ctx, dt.date(2030, 4, 1))
    assert invoice.billing_date == dt.date(2030, 4, 1)
    assert PendingCharge.get_by_id(charge.id).invoice_id == invoice.id


def test_r_led_1_holds_when_a_discount_exceeds_a_pro_rata_cycle(ctx: ServiceContext, acme) -> None:
    """R-LED-1: ledger balance = Σ open balances − unapplied credit, at every commit.

    Found by the oracle: a price override below the base (SPEC §2) billed with a
    pro-rata cycle (or after a price rise) made an invoice with a negative total (a
    discount of final − base); the ledger booked the negative total, but the invoice's
    balance was 0 and no client credit arose. Fixed in db1ef4a, and the rule now reads:
    the override is the contract's final amount on the invoice, its line the difference
    to what the contract's cycles bill there (pro rata included)."""
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id)
    contract = contracts.add_contract(
        ctx,
        client_id=client.id,
        description="PBX",
        unit_price=D("100.00"),
        cycle="month",
        start_date=dt.date(2030, 1, 1),
        end_date=dt.date(2030, 1, 10),
    )
    charges.set_price_override(ctx, contract_id=contract.id, final_amount=D("0.00"))
    (invoice,) = run(ctx, dt.date(2030, 1, 11))  # 10/31 of 100.00, then the discount
    assert (invoice.subtotal, invoice.total) == (D("0.00"), D("0.00"))
    assert invariant_problems() == []


def test_r_run_9_a_price_override_is_billed_once_even_when_it_needs_no_line(
    ctx: ServiceContext, acme
) -> None:
    """SPEC §2: a price override is the contract's final amount "on the next invoice",
    "consumed by that invoice" — also when that invoice's cycle already bills exactly
    the final amount (a pro-rata first cycle) and no adjustment line is needed. The next
    cycle is billed at the full price.

    Found by the model (the machine sets overrides equal to what the next cycle bills):
    with a difference of 0 the override stayed active and discounted the following
    cycle to 48.39 as well. Fixed in 1c7a75a."""
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id)
    contract = contracts.add_contract(
        ctx,
        client_id=client.id,
        description="PBX",
        unit_price=D("100.00"),
        cycle="month",
        start_date=dt.date(2030, 1, 17),
        anchor_date=dt.date(2030, 1, 1),
    )
    charges.set_price_override(ctx, contract_id=contract.id, final_amount=D("48.39"))
    (first,) = run(ctx, dt.date(2030, 1, 17))  # January 17–31: 15/31 of 100.00
    assert first.subtotal == D("48.39")
    (second,) = run(ctx, dt.date(2030, 2, 1))
    assert second.subtotal == D("100.00")
    assert PriceOverride.get(PriceOverride.contract == contract.id).invoice_id == first.id


@pytest.mark.parametrize("earlier_usage", [False, True], ids=["alone", "after-other-usage"])
def test_r_run_2_an_invoice_day_passed_empty_is_invoiced_when_its_usage_arrives(
    ctx: ServiceContext, acme, earlier_usage: bool
) -> None:
    """Invoice days ``1``: the invoice of March 1 holds every item ready by March 1
    (R-RUN-3); nothing was due then, so it was not issued ("a billing date with nothing
    due issues nothing"). Usage of February 10 imported on March 10 is ready by March 1:
    the next run issues the March 1 invoice for it (R-RUN-2: every invoice due on or
    before D that does not exist yet; "late items go to the next invoice date that has
    no invoice yet"). It must not wait for April 1.

    Found by the oracle: the engine marked every invoice day up to the run date as
    claimed, but only in runs where the owner had something to bill, so the outcome
    depended on unrelated usage billed earlier (``after-other-usage`` waited for April
    1, ``alone`` was invoiced for March 1). Fixed in db1ef4a; docs/billing-rules.md now
    says that a period that passed with nothing due is still open."""
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id, invoice_days="1")
    if earlier_usage:
        record(ctx, client.id, local(dt.date(2030, 1, 5), BERLIN, 12), "1.00", 1)
    first = run(ctx, dt.date(2030, 3, 10))
    assert [i.billing_date for i in first] == ([dt.date(2030, 2, 1)] if earlier_usage else [])
    move(ctx, dt.date(2030, 3, 10), 10)
    late = record(ctx, client.id, local(dt.date(2030, 2, 10), BERLIN, 12), "2.00", 2)
    (invoice,) = run(ctx, dt.date(2030, 3, 11))
    assert (invoice.billing_date, invoice.issue_date) == (dt.date(2030, 3, 1), dt.date(2030, 3, 11))
    assert UsageRecord.get_by_id(late).invoice_id == invoice.id


def test_r_run_6_a_manual_orders_invoice_day_stays_the_first_invoices(
    ctx: ServiceContext, acme
) -> None:
    """R-RUN-6: after the first invoice by hand, each cycle of a manual order is invoiced
    on the first day on or after its billing day that has the first invoice's day of
    the month. Subscription from January 1; the operator's first invoice, on February 3,
    names February: the February cycle is billed by hand, the January cycle is due on
    January 3 (backlog, billed by the next run), and the March cycle on March 3.

    Found by the oracle's soak run: the engine took the day of the month from the
    invoice of the earliest cycle billed, so once the January cycle was billed (by the
    run of February 4) the order's invoice day became the 4th. Fixed in 2b5ffb9."""
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id)
    contracts.add_contract(
        ctx,
        client_id=client.id,
        description="PBX",
        unit_price=D("100.00"),
        cycle="month",
        start_date=dt.date(2030, 1, 1),
        origin="manual",
    )
    move(ctx, dt.date(2030, 2, 3), 10)
    first = invoicing.invoice_for_period(
        ctx, client_id=client.id, period_start=dt.date(2030, 2, 1), period_end=dt.date(2030, 2, 28)
    ).invoice
    assert [line.cycle_start for line in first.lines] == [dt.date(2030, 2, 1)]
    (january,) = run(ctx, dt.date(2030, 2, 4))
    assert january.billing_date == dt.date(2030, 1, 3)
    (march,) = run(ctx, dt.date(2030, 3, 3))
    assert (march.billing_date, [line.cycle_start for line in march.lines]) == (
        dt.date(2030, 3, 3),
        [dt.date(2030, 3, 1)],
    )
