"""Runs in batches (issue 13): one transaction per batch of owners, a savepoint per owner.

A failing owner rolls back alone and is the run's error (R-RUN-10); numbers stay
gapless (R-NUM-3); a stop between owners commits what the batch billed; the dry run
reads owners the way the run does (R-RUN-16). On both backends.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billingd.clock import FixedClock
from billingd.db.models import (
    AuditEvent,
    BilledCycle,
    Client,
    Contract,
    DocumentJob,
    Invoice,
    LedgerEntry,
    Run,
    RunError,
)
from billingd.services import closed_periods, contracts, ledger, parties, runs
from billingd.services.context import ServiceContext

AS_OF = dt.date(2026, 3, 1)


@pytest.fixture
def billing(ctx: ServiceContext) -> ServiceContext:
    """The context, its clock on the run's day (issue dates are that day)."""
    ctx.clock = FixedClock(dt.datetime(2026, 3, 1, 9, 0))
    return ctx


def enterprise(ctx: ServiceContext, name: str):  # type: ignore[no-untyped-def]
    return parties.add_enterprise(
        ctx, name=name, currency="EUR", timezone="UTC", tax_rate=Decimal(19), invoice_start=1
    )


def client_with_contracts(ctx: ServiceContext, owner, name: str, start: dt.date) -> int:  # type: ignore[no-untyped-def]
    client = parties.add_client(ctx, name=name, enterprise_id=owner.id)
    contracts.add_contract(
        ctx,
        client_id=client.id,
        description="Hosted PBX",
        unit_price=Decimal("10.00"),
        cycle="month",
        start_date=start,
    )
    return client.id


def numbers(enterprise_id: int) -> list[int]:
    query = Invoice.select(Invoice.number).where(Invoice.enterprise == enterprise_id)
    return sorted(int(row.number) for row in query)


def test_R_RUN_10_an_owner_failing_mid_batch_rolls_back_alone_and_numbers_stay_gapless(
    billing: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five clients in batches of two; the third's enterprise has closed the month it is
    issued in, so its billing fails in ``issue`` after its invoice, lines and cycle
    claim were written: that savepoint is rolled back, the others are billed."""
    monkeypatch.setattr(runs, "BATCH_SIZE", 2)
    open_one, closed_one = enterprise(billing, "Open"), enterprise(billing, "Closed")
    ids = [
        client_with_contracts(billing, open_one, "A", dt.date(2026, 1, 1)),  # 3 invoices
        client_with_contracts(billing, open_one, "B", AS_OF),
        client_with_contracts(billing, closed_one, "C", dt.date(2026, 2, 1)),  # fails
        client_with_contracts(billing, open_one, "D", dt.date(2026, 2, 1)),  # 2 invoices
        client_with_contracts(billing, open_one, "E", AS_OF),
    ]
    closed_periods.close_period(billing, enterprise_id=closed_one.id, month="2026-03")
    billing.events.clear()

    run = runs.run_all(billing, as_of=AS_OF)

    assert (run.status, run.done, run.invoices, run.failures) == ("done", 5, 7, 1)
    (error,) = RunError.select().where(RunError.run == run.id)
    assert error.client_id == ids[2] and error.message.startswith("RuleViolation")
    assert "2026-03 is closed" in error.message
    # nothing of the failing client stays: no invoice, claim, ledger, job or event
    failed = ids[2]
    assert not Invoice.select().where(Invoice.client == failed).exists()
    claimed = BilledCycle.select().join(Contract).where(Contract.client == failed)
    assert not claimed.exists()
    assert not LedgerEntry.select().where(LedgerEntry.client == failed).exists()
    assert (
        not AuditEvent.select()
        .where((AuditEvent.client_id == failed) & (AuditEvent.event == "invoice.issued"))
        .exists()
    )
    issued = [p for name, p in billing.events if name == "invoice.issued"]
    assert len(issued) == 7 and failed not in {p["client_id"] for p in issued}
    # the others: gapless numbers, in the run's order, each with its document job
    assert numbers(open_one.id) == list(range(1, 8))
    order = sorted(Invoice.select(), key=lambda i: int(i.number))
    assert [i.client_id for i in order] == [ids[0]] * 3 + [ids[1]] + [ids[3]] * 2 + [ids[4]]
    assert DocumentJob.select().count() == 7
    for client_id in (ids[0], ids[1], ids[3], ids[4]):
        assert ledger.invariant_problems(Client.get_by_id(client_id)) == []
    # the next run bills nothing twice; failing again, the client is parked (R-RUN-14)
    again = runs.run_all(billing, as_of=AS_OF)
    assert (again.invoices, again.failures, again.parked) == (0, 1, 1)
    assert numbers(open_one.id) == list(range(1, 8))


def test_R_RUN_11_a_stop_between_owners_commits_what_the_batch_billed(
    billing: ServiceContext,
) -> None:
    owner = enterprise(billing, "Acme")
    ids = [client_with_contracts(billing, owner, f"C{n}", AS_OF) for n in range(5)]
    run = runs.start_run(billing, as_of=AS_OF, client_id=None, trigger="manual")
    asked = iter([False, False, True])

    stepped = runs.run_batch(billing, run.id, list(ids), 24, lambda: next(asked))

    assert (stepped.done, stepped.invoices) == (2, 2)
    assert Run.get_by_id(run.id).done == 2
    billed = {i.client_id for i in Invoice.select(Invoice.client)}
    assert billed == set(ids[:2]) and numbers(owner.id) == [1, 2]


def test_R_RUN_16_the_dry_run_shows_what_batches_issue(
    billing: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "BATCH_SIZE", 2)
    owner = enterprise(billing, "Acme")
    starts = [dt.date(2026, 1, 1), AS_OF, dt.date(2026, 2, 15), AS_OF, dt.date(2025, 12, 31)]
    ids = [client_with_contracts(billing, owner, f"C{n}", s) for n, s in enumerate(starts)]
    parked = ids[1]
    runs.park(billing, Client.get_by_id(parked), "checked by hand")

    shown = list(runs.iter_dry_run(AS_OF, today=billing.today))
    run = runs.run_all(billing, as_of=AS_OF)

    issued = Invoice.select().order_by(Invoice.id)
    assert run.invoices == len(shown) == issued.count() > 0
    for preview, invoice in zip(shown, issued, strict=True):
        assert preview["client_id"] == invoice.client_id != parked
        assert preview["total"] == str(invoice.total)
        assert preview["issue_date"] == invoice.issue_date.isoformat()
        assert preview["billing_date"] == invoice.billing_date.isoformat()
