"""Refunds (``payment refund``): credit first, then allocations newest first; the invoices
reopened; ledger (R-LED-1), audit and notices in one transaction; gateway refunds with
the charges' crash discipline. SQLite and PostgreSQL, and the real billingctl."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test

from billingd.db.models import (
    Allocation,
    AuditEvent,
    Client,
    Invoice,
    LedgerEntry,
    OutboxMessage,
    Payment,
    Refund,
)
from billingd.domain.refunds import Share, plan_refund, refund_problem
from billingd.errors import Conflict, NotFound, ValidationError
from billingd.hookspecs import hookimpl
from billingd.plugins import load_plugins
from billingd.services import credit_notes, invoicing, ledger, parties, payments, refunds
from billingd.services.context import ServiceContext
from billingd.views import OBJECTS
from billingd_plugins.sandbox import SANDBOX
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok
from tests.lanes import examples

D = Decimal


class Recorder:
    """A notifier that wants every event (what is queued for it is what we check)."""

    name = "recorder"

    def wants(self, event_name: str) -> bool:
        return True

    def notify(self, event: dict[str, Any]) -> None:
        pass


class RecorderPlugin:
    @hookimpl
    def register_notifiers(self, register) -> None:  # type: ignore[no-untyped-def]
        register(Recorder())


@pytest.fixture(scope="module")
def noticing_plugins():  # type: ignore[no-untyped-def]
    host = load_plugins({}, None)
    host.register(RecorderPlugin(), "recorder")
    return host


@pytest.fixture
def nctx(ctx: ServiceContext, noticing_plugins: Any) -> ServiceContext:
    ctx.plugins = noticing_plugins
    return ctx


@pytest.fixture
def sandbox(tmp_path: Path):  # type: ignore[no-untyped-def]
    SANDBOX.configure({"state_file": str(tmp_path / "sandbox.jsonl")})
    yield SANDBOX
    SANDBOX.configure({})


def _client(ctx: ServiceContext, acme: Any) -> Any:
    return parties.add_client(ctx, name="Jane", enterprise_id=acme.id, email="jane@x.test")


def _invoices(ctx: ServiceContext, client: Any, *amounts: str) -> list[Invoice]:
    return [
        invoicing.invoice_for_amount(
            ctx, client_id=client.id, issue_date=dt.date(2026, 1, 1 + n), amount=D(a)
        )[0]
        for n, a in enumerate(amounts)
    ]


def _fresh(invoice: Invoice) -> Invoice:
    return Invoice.get_by_id(invoice.id)


def _invariant(client: Any) -> None:
    assert ledger.invariant_problems(Client.get_by_id(client.id)) == []


def _payment_adds_up(payment: Payment) -> None:
    payment = Payment.get_by_id(payment.id)
    shares = [a.amount for a in payment.allocations]
    assert all(s > 0 for s in shares)
    assert sum(shares, D(0)) + payment.unallocated + payment.refunded == payment.amount


def test_R_LED_1_refunding_two_allocations_to_one_invoice_keeps_its_balance(
    ctx: ServiceContext, acme: Any
) -> None:
    """The oracle's counterexample: a payment whose credit paid one invoice twice (after
    refunds of another payment reopened it), refunded whole while other credit waits."""
    client = _client(ctx, acme)
    (invoice,) = _invoices(ctx, client, "100.00")
    first = payments.record_payment(
        ctx, client_id=client.id, amount=D("100.00"), invoice=invoice.id
    )
    credit = payments.record_payment(ctx, client_id=client.id, amount=D("50.00"))
    refunds.refund_payment(ctx, first.id, D("30.00"))  # reopened: paid by the credit
    refunds.refund_payment(ctx, first.id, D("20.00"))  # again: a second allocation
    assert [a.amount for a in Payment.get_by_id(credit.id).allocations] == [D("30"), D("20")]
    payments.record_payment(ctx, client_id=client.id, amount=D("10.00"))  # waits as credit

    refunds.refund_payment(ctx, credit.id)
    # 100 less the 50 the first payment still pays less the 10 of credit applied now
    assert _fresh(invoice).balance == D("40.00")
    _invariant(client)
    _payment_adds_up(credit)


# ---------------------------------------------------------------- the split (pure)


def test_plan_takes_credit_first_then_allocations_newest_first() -> None:
    shares = [Share(1, 10, D("30")), Share(2, 11, D("50")), Share(3, 12, D("20"))]
    plan = plan_refund(D("45"), D("15"), shares)
    assert plan.from_credit == D("15")
    assert [(u.allocation_id, u.amount, u.remaining) for u in plan.undone] == [
        (3, D("20"), D("0")),
        (2, D("10"), D("40")),
    ]
    assert plan_refund(D("5"), D("15"), shares).undone == ()
    with pytest.raises(ValueError):
        plan_refund(D("200"), D("0"), shares)
    assert refund_problem(D("0"), D("10")) is not None
    assert refund_problem(D("10.01"), D("10")) is not None
    assert refund_problem(D("1"), D("0")) == "the payment is refunded in full already"
    assert refund_problem(D("10"), D("10")) is None


# ---------------------------------------------------------------- manual payments


def test_full_refund_reopens_invoices_newest_first_and_keeps_the_ledger(
    nctx: ServiceContext, acme: Any
) -> None:
    client = _client(nctx, acme)
    first, second = _invoices(nctx, client, "100.00", "50.00")
    payment = payments.record_payment(nctx, client_id=client.id, amount=D("170.00"))
    assert payment.unallocated == D("20.00")
    assert [_fresh(i).status for i in (first, second)] == ["paid", "paid"]
    ledger_before = ledger.ledger_balance(client)

    refund = refunds.refund_payment(nctx, payment.id, D("60.00"), reason="double charge")
    # 20 of credit, then 40 of the newest allocation (the second invoice's 50)
    assert refund.status == "succeeded" and refund.method == "manual"
    payment = Payment.get_by_id(payment.id)
    assert (payment.unallocated, payment.refunded) == (D("0.00"), D("60.00"))
    assert {a.invoice_id: a.amount for a in payment.allocations} == {
        first.id: D("100.00"),
        second.id: D("10.00"),
    }
    assert (_fresh(second).status, _fresh(second).balance) == ("partial", D("40.00"))
    assert _fresh(first).status == "paid"
    assert ledger.ledger_balance(client) == ledger_before + D("60.00")
    _invariant(client)
    _payment_adds_up(payment)

    # the rest (default: all that is left): the allocations go, deleted, not zero
    refunds.refund_payment(nctx, payment.id)
    payment = Payment.get_by_id(payment.id)
    assert payment.refunded == D("170.00") and not payment.allocations.exists()
    assert [(_fresh(i).status, _fresh(i).balance) for i in (first, second)] == [
        ("open", D("100.00")),
        ("open", D("50.00")),
    ]
    assert not Allocation.select().where(Allocation.amount <= 0).exists()
    _invariant(client)
    _payment_adds_up(payment)
    entries = LedgerEntry.select().where(LedgerEntry.kind == "payment.refunded")
    assert sorted(e.amount for e in entries) == [D("60.00"), D("110.00")]
    audit = AuditEvent.select().where(AuditEvent.event == "payment.refunded")
    assert [a.details["amount"] for a in audit.order_by(AuditEvent.id)] == ["60.00", "110.00"]
    assert audit.first().actor == "tester" and audit.first().details["reason"] == "double charge"
    reopened = AuditEvent.select().where(AuditEvent.event == "invoice.reopened")
    assert reopened.count() == 3  # second (partial), second (open), first (open)
    # a notice per refund and one per payment received, for the client
    notices = OutboxMessage.select().where(
        (OutboxMessage.event == "payment.refunded") & (OutboxMessage.target == "recorder")
    )
    assert notices.count() == 2 and {m.client_id for m in notices} == {client.id}
    assert [e for e, _ in nctx.events].count("payment.refunded") == 2


def test_refund_refused_above_the_rest_or_not_positive_writes_nothing(
    ctx: ServiceContext, acme: Any
) -> None:
    client = _client(ctx, acme)
    _invoices(ctx, client, "30.00")
    payment = payments.record_payment(ctx, client_id=client.id, amount=D("30.00"))
    refunds.refund_payment(ctx, payment.id, D("10.00"))
    counts = (Refund.select().count(), LedgerEntry.select().count(), AuditEvent.select().count())
    for amount in (D("20.01"), D("0"), D("-5"), D("0.001")):
        with pytest.raises(ValidationError) as refused:
            refunds.refund_payment(ctx, payment.id, amount)
        assert refused.value.data["field"] == "amount"
    with pytest.raises(ValidationError, match=r"more than the 20\.00 left"):
        refunds.refund_payment(ctx, payment.id, D("25"))
    with pytest.raises(NotFound):
        refunds.refund_payment(ctx, 9999)
    assert counts == (
        Refund.select().count(),
        LedgerEntry.select().count(),
        AuditEvent.select().count(),
    )
    refunds.refund_payment(ctx, payment.id)  # the 20.00 left
    with pytest.raises(ValidationError, match="refunded in full"):
        refunds.refund_payment(ctx, payment.id)


def test_credited_invoice_keeps_its_credit_note_and_other_credit_pays_the_reopened(
    ctx: ServiceContext, acme: Any
) -> None:
    client = _client(ctx, acme)
    (invoice,) = _invoices(ctx, client, "100.00")
    credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=D("30.00"))
    paying = payments.record_payment(ctx, client_id=client.id, amount=D("70.00"))
    assert _fresh(invoice).status == "paid"
    refunds.refund_payment(ctx, paying.id, D("70.00"))
    reopened = _fresh(invoice)
    assert (reopened.status, reopened.balance) == ("partial", D("70.00"))  # credit note stays
    assert reopened.credit_notes.count() == 1
    _invariant(client)
    paid = payments.record_payment(ctx, client_id=client.id, amount=D("70.00"))
    # the client's credit from another payment pays a reopened invoice at once (R-PAY-2)
    surplus = payments.record_payment(ctx, client_id=client.id, amount=D("50.00"))
    assert Payment.get_by_id(surplus.id).unallocated == D("50.00")
    refunds.refund_payment(ctx, paid.id, D("70.00"))
    reopened = _fresh(invoice)
    assert (reopened.status, reopened.balance) == ("partial", D("20.00"))
    assert Payment.get_by_id(surplus.id).unallocated == D("0.00")
    _invariant(client)


def test_refund_of_credit_only_touches_no_invoice(ctx: ServiceContext, acme: Any) -> None:
    client = _client(ctx, acme)
    payment = payments.record_payment(ctx, client_id=client.id, amount=D("40.00"))
    refunds.refund_payment(ctx, payment.id, D("15.00"))
    assert Payment.get_by_id(payment.id).unallocated == D("25.00")
    assert ledger.ledger_balance(client) == D("-25.00")
    _invariant(client)


def test_R_PAY_3_payment_received_notice_in_the_payments_transaction(
    nctx: ServiceContext, acme: Any
) -> None:
    client = _client(nctx, acme)
    (invoice,) = _invoices(nctx, client, "12.00")
    payment = payments.record_payment(nctx, client_id=client.id, amount=D("12.00"))
    (notice,) = OutboxMessage.select().where(
        (OutboxMessage.event == "payment.received") & (OutboxMessage.target == "recorder")
    )
    assert notice.channel == "notify" and notice.target == "recorder"
    assert notice.client_id == client.id and notice.invoice_id == invoice.id
    body = notice.payload["payload"]
    assert body["payment_id"] == payment.id and body["amount"] == "12.00"
    assert body["date"] == nctx.today("Europe/Berlin").isoformat()
    assert body["allocations"] == [
        {"invoice_id": invoice.id, "number": invoice.number, "amount": "12.00"}
    ]


# ---------------------------------------------------------------- gateway payments


def test_gateway_refund_asks_the_gateway_once_and_records_it(
    ctx: ServiceContext, acme: Any, sandbox: Any
) -> None:
    client = _client(ctx, acme)
    (invoice,) = _invoices(ctx, client, "19.00")
    payment = payments.record_payment(ctx, client_id=client.id, amount=D("19.00"), method="sandbox")
    refund = refunds.refund_payment(ctx, payment.id, D("9.00"))
    assert (refund.status, refund.method) == ("succeeded", "sandbox")
    assert refund.result["status"] == "succeeded" and refund.result["reference"].startswith("sbx_")
    asked = [e for e in sandbox._recorded().values() if e["kind"] == "refund"]
    assert [(e["amount"], e["idempotency_key"]) for e in asked] == [
        ("9.00", refund.idempotency_key)
    ]
    assert (_fresh(invoice).status, _fresh(invoice).balance) == ("partial", D("9.00"))
    _invariant(client)


def test_gateway_declines_refund_nothing_else_changes(
    ctx: ServiceContext, acme: Any, sandbox: Any, tmp_path: Path
) -> None:
    client = _client(ctx, acme)
    (invoice,) = _invoices(ctx, client, "19.00")
    payment = payments.record_payment(ctx, client_id=client.id, amount=D("19.00"), method="sandbox")
    sandbox.configure({"state_file": str(tmp_path / "sandbox.jsonl"), "fail_amounts": ["5.00"]})
    ledger_before = ledger.ledger_balance(client)
    with pytest.raises(Conflict, match="refused the refund: card declined"):
        refunds.refund_payment(ctx, payment.id, D("5.00"))
    (refund,) = Refund.select()
    assert refund.status == "failed" and refund.result["message"] == "card declined"
    payment = Payment.get_by_id(payment.id)
    assert (payment.refunded, _fresh(invoice).status) == (D("0"), "paid")
    assert ledger.ledger_balance(client) == ledger_before
    # a failed refund holds nothing back: the whole payment can still be refunded
    refunds.refund_payment(ctx, payment.id)
    assert Payment.get_by_id(payment.id).refunded == D("19.00")


def test_gateway_refund_pending_after_a_crash_is_asked_again_with_its_key(
    ctx: ServiceContext, acme: Any, sandbox: Any
) -> None:
    client = _client(ctx, acme)
    _invoices(ctx, client, "19.00")
    payment = payments.record_payment(ctx, client_id=client.id, amount=D("19.00"), method="sandbox")
    pending = Refund.create(
        payment=payment,
        amount=D("19.00"),
        currency="EUR",
        method="sandbox",
        idempotency_key="billingd-payment-x-refund-1",
        actor="tester",
    )
    sandbox.refund({}, "19.00", pending.idempotency_key)  # refunded, then the daemon died
    # while pending, it holds its amount: nothing more can be refunded
    with pytest.raises(ValidationError, match="refunded in full"):
        refunds.refund_payment(ctx, payment.id)
    assert refunds.resume_pending_refunds(ctx) == 1
    assert Refund.get_by_id(pending.id).status == "succeeded"
    assert Refund.get_by_id(pending.id).result.get("replayed") is True  # not refunded twice
    assert Payment.get_by_id(payment.id).refunded == D("19.00")
    assert len([e for e in sandbox._recorded().values() if e["kind"] == "refund"]) == 1
    assert refunds.resume_pending_refunds(ctx) == 0
    _invariant(client)


def test_unknown_gateway_refused_before_writing(ctx: ServiceContext, acme: Any) -> None:
    client = _client(ctx, acme)
    payment = payments.record_payment(ctx, client_id=client.id, amount=D("5.00"), method="nope")
    with pytest.raises(NotFound, match="no payment gateway 'nope'"):
        refunds.refund_payment(ctx, payment.id)
    assert Refund.select().count() == 0


# ---------------------------------------------------------------- ledger properties


def _ledger_machine():  # type: ignore[no-untyped-def]
    from tests.services.test_ledger_properties import LedgerMachine, amounts

    class RefundingLedger(LedgerMachine):
        """The ledger machine of tests/services/test_ledger_properties.py, with refunds."""

        refunded: ClassVar[Decimal]

        def payments_of_client(self) -> list[Payment]:
            return list(Payment.select().where(Payment.client == self.client))

        @precondition(lambda self: bool(self.payments_of_client()))
        @rule(data=st.data(), whole=st.booleans())
        def refund(self, data: st.DataObject, whole: bool) -> None:
            payment = data.draw(st.sampled_from(self.payments_of_client()), label="payment")
            left = payment.amount - payment.refunded
            amount = None if whole else data.draw(amounts(self.currency, 60_000), label="amount")
            allowed = left > 0 and (amount is None or amount <= left)
            refund = self.attempt(
                allowed, lambda: refunds.refund_payment(self.ctx, payment.id, amount)
            )
            if refund is not None:
                self.paid -= refund.amount  # the client owes it again

        @invariant()
        def payments_add_up(self) -> None:  # with refunds: Σ + credit + refunded = amount
            credit = D(0)
            for payment in self.payments_of_client():
                _payment_adds_up(payment)
                credit += payment.unallocated
            if credit > 0:
                still_open = [i for i in self.invoices() if i.status in ("open", "partial")]
                assert still_open == [], "R-PAY-2: credit unapplied while invoices are open"

    return RefundingLedger


@pytest.mark.slow
def test_R_LED_1_ledger_holds_under_random_refunds(tmp_path: Path, loaded_plugins: Any) -> None:
    from billingd.clock import TestClock
    from billingd.db.connection import open_database
    from billingd.db.migrations import migrate

    machine = _ledger_machine()
    database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(database)
    clock = TestClock()
    clock.set(dt.datetime(2027, 6, 30, 12, tzinfo=dt.UTC))
    machine.base_ctx = ServiceContext(
        actor="hypothesis", clock=clock, plugins=loaded_plugins, data_dir=tmp_path / "data"
    )
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=examples(40),
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        database.close()


# ---------------------------------------------------------------- billingctl


def test_payment_refund_through_billingctl(daemon: RunningDaemon) -> None:
    enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    client = daemon.call("client.add", enterprise=enterprise["id"], name="Jane")
    invoice = daemon.call(
        "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
    )[0]
    payment = ok(daemon, "payment", "record", "--client", str(client["id"]), "--amount", "119")
    assert payment["refunded"] == "0" and payment["refunds"] == []
    refused = billingctl(daemon.socket, "payment", "refund", str(payment["id"]), "--amount", "200")
    assert refused.returncode == 1 and "more than the 119.00 left" in refused.stdout
    done = ok(
        daemon, "payment", "refund", str(payment["id"]), "--amount", "19", "--reason", "goodwill"
    )
    assert done["refunded"] == "19.00" and done["allocations"][0]["amount"] == "100.00"
    (refund,) = done["refunds"]
    assert (refund["amount"], refund["status"], refund["reason"]) == (
        "19.00",
        "succeeded",
        "goodwill",
    )
    shown = daemon.call("invoice.show", invoice=invoice["id"])
    assert (shown["status"], shown["balance"]) == ("partial", "19.00")
    listed = daemon.call("payment.list", client=client["id"])
    assert listed[0]["refunded"] == "19.00"
    events = [e["event"] for e in daemon.call("audit.list", limit=50)]
    assert "payment.refunded" in events and "invoice.reopened" in events
    summary = daemon.call("summary", client=client["id"])
    assert summary["ledger_balance"] == "19.00"
    assert (summary["total_paid"], summary["balance_due"]) == ("100.00", "19.00")  # R-LED-2
    assert tuple(done) == OBJECTS["Payment"] and tuple(refund) == OBJECTS["Refund"]


@pytest.mark.slow
def test_R_PAY_3_payment_received_and_refund_are_mailed_to_the_client(
    short_dir: Path, smtp: Any
) -> None:
    from tests.delivery.conftest import mail_daemon, seed_client, wait_until

    daemon = mail_daemon(short_dir, smtp)
    try:
        client = seed_client(daemon)
        payment = daemon.call("payment.record", client=client["id"], amount="40.00")
        daemon.call("payment.refund", payment=payment["id"], amount="15.00", reason="goodwill")

        def subjects() -> list[str]:
            with smtp.lock:
                return sorted(str(m["Subject"]) for m in smtp.messages)

        wait_until(lambda: len(subjects()) >= 2, what="two notices")
        assert subjects() == ["Payment received: 40.00 EUR", "Refund of 15.00 EUR"]
    finally:
        daemon.stop()
