"""The payment gateway's retry schedule for self-checkout contracts (R-RUN-7), on the test
clock with the ``sandbox`` gateway: each failure told to the notifiers with the next try,
a new charge per retry, exactly once per attempt across restarts, paid → the contract
bills again, exhausted → open with a final notice."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billingd.clock import TestClock
from billingd.db.models import AuditEvent, ChargeAttempt, Invoice, OutboxMessage, Payment, Refund
from billingd.domain.charge_retries import next_retry_at, retry_key, schedule_problem
from billingd.errors import Conflict
from billingd.hookspecs import hookimpl
from billingd.plugins import load_plugins
from billingd.services import contracts, disputes, gateway_charges, parties, payments, refunds, runs
from billingd.services.context import ServiceContext
from billingd.services.gateway_calls import UNANSWERED
from billingd_plugins.sandbox import SANDBOX
from tests.conftest import RunningDaemon
from tests.delivery.conftest import wait_until

D = Decimal
UTC = dt.UTC
START = dt.datetime(2026, 1, 1, 10, tzinfo=UTC)  # the first cycle's run, 11:00 in Berlin


class Recorder:
    name = "recorder"

    def wants(self, event_name: str) -> bool:
        return event_name == "payment.failed"

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
def tctx(ctx: ServiceContext, noticing_plugins: Any) -> ServiceContext:
    """The service context on the test clock at START, telling the recorder notifier."""
    clock = TestClock()
    clock.set(START)
    ctx.clock = clock
    ctx.plugins = noticing_plugins
    ctx.payment_retries = (1, 3, 7)
    return ctx


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "sandbox.jsonl"


def _sandbox(state: Path, *failing: str) -> None:
    SANDBOX.configure({"state_file": str(state), "fail_amounts": list(failing)})


@pytest.fixture(autouse=True)
def _reset_sandbox():  # type: ignore[no-untyped-def]
    yield
    SANDBOX.configure({})


def _self_checkout(ctx: ServiceContext, acme: Any, price: str = "13.00") -> Any:
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id, email="j@x.test")
    contracts.add_contract(
        ctx,
        client_id=client.id,
        description="Hosted PBX",
        unit_price=D(price),
        tax_rate=D("0"),
        cycle="month",
        start_date=dt.date(2026, 1, 1),
        origin="self_checkout",
        payment_method="sandbox",
    )
    return client


def _run(ctx: ServiceContext, day: dt.date) -> None:
    runs.run_all(ctx.at(dt.datetime.combine(day, dt.time(10), tzinfo=UTC)), as_of=day)


def _invoices(client: Any) -> list[Invoice]:
    return list(Invoice.select().where(Invoice.client == client.id).order_by(Invoice.issue_date))


def _retry(ctx: ServiceContext, at: dt.datetime) -> int:
    """What the scheduler does when the clock reads ``at``."""
    ctx.clock.set(at)  # type: ignore[attr-defined]
    return gateway_charges.retry_due_charges(ctx, at)


def _charges(state: Path) -> list[tuple[str, str, str]]:
    entries = [json.loads(line) for line in state.read_text().splitlines() if line]
    return [(e["idempotency_key"], e["amount"], e["status"]) for e in entries]


def _notices() -> list[dict[str, Any]]:
    rows = OutboxMessage.select().where(
        (OutboxMessage.event == "payment.failed") & (OutboxMessage.target == "recorder")
    )
    return [m.payload["payload"] for m in rows.order_by(OutboxMessage.id)]


def test_schedule_arithmetic() -> None:
    first = dt.datetime(2026, 1, 1, 10)
    assert next_retry_at((1, 3, 7), first, 0) == dt.datetime(2026, 1, 2, 10)
    assert next_retry_at((1, 3, 7), first, 2) == dt.datetime(2026, 1, 8, 10)
    assert next_retry_at((1, 3, 7), first, 3) is None
    assert next_retry_at((), first, 0) is None
    assert retry_key(7, 2) == "billingd-invoice-7-retry-2"
    assert schedule_problem([1, 3, 7]) is None
    assert schedule_problem([3, 1]) and schedule_problem([0]) and schedule_problem([True])


def test_R_RUN_7_failed_charge_is_retried_on_schedule_then_paid_and_the_contract_recurs(
    tctx: ServiceContext, acme: Any, state: Path
) -> None:
    _sandbox(state, "13.00")
    client = _self_checkout(tctx, acme)
    _run(tctx, dt.date(2026, 1, 1))
    (invoice,) = _invoices(client)
    assert invoice.status == "open"
    (first,) = _notices()
    assert first["invoice"] == invoice.number and first["amount"] == "13.00"
    assert first["message"] == "card declined" and first["attempt"] == 1 and not first["final"]
    assert first["next_retry_at"] == "2026-01-02T10:00:00Z"
    assert first["next_retry_date"] == first["next_retry"] == "2026-01-02"
    notice = OutboxMessage.select().where(OutboxMessage.target == "recorder").get()
    assert (notice.client_id, notice.invoice_id) == (client.id, invoice.id)

    # not due yet: nothing; a day later: retry 1, a new charge with its own key, declined
    assert _retry(tctx, dt.datetime(2026, 1, 2, 9, 59, tzinfo=UTC)) == 0
    assert _retry(tctx, dt.datetime(2026, 1, 2, 10, tzinfo=UTC)) == 1
    assert _charges(state) == [
        (f"billingd-invoice-{invoice.id}", "13.00", "failed"),
        (retry_key(invoice.id, 1), "13.00", "failed"),
    ]
    second = _notices()[-1]
    assert (second["attempt"], second["next_retry_at"]) == (2, "2026-01-04T10:00:00Z")
    assert _retry(tctx, dt.datetime(2026, 1, 3, tzinfo=UTC)) == 0  # once per attempt

    # no further cycle while it is open (R-RUN-7)
    _run(tctx, dt.date(2026, 2, 1))
    assert len(_invoices(client)) == 1
    # the card works again: retry 2 on day 3 pays the invoice
    _sandbox(state)
    assert _retry(tctx, dt.datetime(2026, 2, 1, 12, tzinfo=UTC)) == 1
    assert Invoice.get_by_id(invoice.id).status == "paid"
    assert _charges(state)[-1] == (retry_key(invoice.id, 2), "13.00", "succeeded")
    assert len(_notices()) == 2
    attempts = ChargeAttempt.select().where(ChargeAttempt.invoice == invoice.id)
    assert sorted((a.attempt, a.status) for a in attempts) == [
        (0, "failed"),
        (1, "failed"),
        (2, "succeeded"),
    ]
    assert not ChargeAttempt.select().where(ChargeAttempt.retry_at.is_null(False)).exists()
    # settled: the contract bills its next cycle again, and it is charged
    _run(tctx, dt.date(2026, 2, 1))
    assert [i.status for i in _invoices(client)] == ["paid", "paid"]


def test_R_RUN_7_exhausted_retries_leave_it_open_with_a_final_notice(
    tctx: ServiceContext, acme: Any, state: Path
) -> None:
    tctx.payment_retries = (1, 3)
    _sandbox(state, "13.00")
    client = _self_checkout(tctx, acme)
    _run(tctx, dt.date(2026, 1, 1))
    # a week passes at once: both retries happen, each on its own day
    assert _retry(tctx, dt.datetime(2026, 1, 9, tzinfo=UTC)) == 2
    (invoice,) = _invoices(client)
    assert invoice.status == "open"
    notices = _notices()
    assert [(n["attempt"], n["next_retry_at"], n["final"]) for n in notices] == [
        (1, "2026-01-02T10:00:00Z", False),
        (2, "2026-01-04T10:00:00Z", False),
        (3, None, True),
    ]
    failed_at = sorted(
        a.failed_at for a in ChargeAttempt.select().where(ChargeAttempt.invoice == invoice.id)
    )
    assert failed_at == [
        dt.datetime(2026, 1, 1, 10),
        dt.datetime(2026, 1, 2, 10),
        dt.datetime(2026, 1, 4, 10),
    ]
    assert _retry(tctx, dt.datetime(2026, 3, 1, tzinfo=UTC)) == 0
    assert len(_charges(state)) == 3
    audit = AuditEvent.select().where(AuditEvent.event == "payment.failed")
    assert [a.details["final"] for a in audit.order_by(AuditEvent.id)] == [False, False, True]


def test_R_RUN_7_retry_cut_short_by_a_crash_is_asked_again_with_its_key_once(
    tctx: ServiceContext, acme: Any, state: Path
) -> None:
    _sandbox(state, "13.00")
    client = _self_checkout(tctx, acme)
    _run(tctx, dt.date(2026, 1, 1))
    (invoice,) = _invoices(client)
    (failed,) = ChargeAttempt.select()
    _sandbox(state)
    retry = gateway_charges._start_retry(tctx, failed.id)  # written, committed …
    assert retry is not None and retry.idempotency_key == retry_key(invoice.id, 1)
    SANDBOX.charge({}, "13.00", retry.idempotency_key)  # … charged, then the daemon died
    # the schedule does not ask again: the retry is off it; the restart's resume does
    assert _retry(tctx, dt.datetime(2026, 1, 5, tzinfo=UTC)) == 0
    assert gateway_charges.resume_pending_charges(tctx) == 1
    assert Invoice.get_by_id(invoice.id).status == "paid"
    assert [k for k, _, _ in _charges(state)].count(retry.idempotency_key) == 1
    assert ChargeAttempt.get_by_id(retry.id).result.get("replayed") is True


def test_retries_wait_while_disputed_and_stop_once_settled_otherwise(
    tctx: ServiceContext, acme: Any, state: Path
) -> None:
    _sandbox(state, "13.00")
    disputed_client = _self_checkout(tctx, acme)
    paid_client = _self_checkout(tctx, acme)
    _run(tctx, dt.date(2026, 1, 1))
    (disputed,) = _invoices(disputed_client)
    (paid,) = _invoices(paid_client)
    disputes.dispute_invoice(tctx, disputed.id, "never ordered")
    payments.record_payment(tctx, client_id=paid_client.id, amount=D("13.00"))
    assert _retry(tctx, dt.datetime(2026, 1, 3, tzinfo=UTC)) == 0
    assert len(_charges(state)) == 2  # the two first charges only
    disputes.undispute_invoice(tctx, disputed.id)
    assert _retry(tctx, dt.datetime(2026, 1, 3, 1, tzinfo=UTC)) == 1
    assert _charges(state)[-1][0] == retry_key(disputed.id, 1)
    assert (
        not ChargeAttempt.select()
        .where((ChargeAttempt.invoice == paid.id) & ChargeAttempt.retry_at.is_null(False))
        .exists()
    )


# ---------------------------------------------------------------- the daemon


def _daemon(folder: Path, state: Path) -> RunningDaemon:
    config = (
        "clock: test\npayment_retries: [1, 3]\n"
        "plugins:\n  settings:\n    sandbox:\n"
        f"      state_file: {state}\n      fail_amounts: ['13.00']\n"
    )
    return RunningDaemon(folder, f"sqlite:///{folder / 'billing.db'}", config)


@pytest.mark.slow
def test_R_RUN_7_daemon_retries_on_the_test_clock_once_across_restarts(short_dir: Path) -> None:
    state = short_dir / "sandbox.jsonl"
    daemon = _daemon(short_dir, state)
    try:
        daemon.call("clock.set", to="2026-01-01T10:00:00Z")
        enterprise = daemon.call(
            "enterprise.add", name="Acme", currency="EUR", tax_rate="0", timezone="Europe/Berlin"
        )
        client = daemon.call("client.add", enterprise=enterprise["id"], name="Jane")
        daemon.call(
            "contract.add",
            client=client["id"],
            description="Hosted PBX",
            price="13.00",
            cycle="month",
            start="2026-01-01",
            origin="self_checkout",
            gateway="sandbox",
        )
        daemon.call("clock.advance", by="1h")  # the creation's billing has happened
        (invoice,) = daemon.call("invoice.list", client=client["id"])
        assert invoice["status"] == "open" and len(_charges(state)) == 1
        daemon.call("clock.advance", by="1d")  # retry 1, declined
        assert [k for k, _, _ in _charges(state)] == [
            f"billingd-invoice-{invoice['id']}",
            retry_key(invoice["id"], 1),
        ]
        events = daemon.call("audit.list", limit=200)
        failures = [e for e in events if e["event"] == "payment.failed"]
        assert len(failures) == 2
        assert {f["details"]["next_retry_at"] for f in failures} == {
            "2026-01-02T10:00:00Z",
            "2026-01-04T10:00:00Z",
        }
    finally:
        daemon.stop()
    daemon = _daemon(short_dir, state)  # a restart performs nothing again
    try:
        daemon.call("clock.advance", by="1h")
        assert len(_charges(state)) == 2
        # the client pays 1.00 by hand: retry 2 charges the 12.00 left, and it goes through
        daemon.call("payment.record", client=client["id"], amount="1.00", invoice=invoice["id"])
        daemon.call("clock.advance", by="2d")
        assert _charges(state)[-1] == (retry_key(invoice["id"], 2), "12.00", "succeeded")
        assert daemon.call("invoice.show", invoice=invoice["id"])["status"] == "paid"
        daemon.call("clock.advance", by="31d")  # the contract bills (and charges) again
        listed = sorted(daemon.call("invoice.list", client=client["id"]), key=lambda i: i["id"])
        assert [i["status"] for i in listed] == ["paid", "open"]  # 13.00 declined once more
        second = listed[1]["id"]  # charged, then retried on days 1 and 3, then final
        assert [k for k, _, _ in _charges(state)][-3:] == [
            f"billingd-invoice-{second}",
            retry_key(second, 1),
            retry_key(second, 2),
        ]
        failures = [
            e for e in daemon.call("audit.list", limit=200) if e["event"] == "payment.failed"
        ]
        assert failures[0]["details"]["final"] is True and len(failures) == 5
    finally:
        daemon.stop()


@pytest.mark.slow
def test_R_RUN_7_client_and_operator_are_mailed_each_failure_with_the_next_try(
    short_dir: Path, smtp: Any
) -> None:
    state = short_dir / "sandbox.jsonl"
    config = (
        "clock: test\npayment_retries: [1]\n"
        + smtp.config()
        + "plugins:\n  settings:\n    email:\n      operator: [ops@acme.test]\n"
        f"    sandbox:\n      state_file: {state}\n      fail_amounts: ['13.00']\n"
    )
    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", config)
    try:
        daemon.call("clock.set", to="2026-01-01T10:00:00Z")
        enterprise = daemon.call(
            "enterprise.add", name="Acme", currency="EUR", tax_rate="0", timezone="Europe/Berlin"
        )
        client = daemon.call(
            "client.add",
            enterprise=enterprise["id"],
            name="Jane",
            email="jane@client.test",
            send_email=True,
        )
        daemon.call(
            "contract.add",
            client=client["id"],
            description="Hosted PBX",
            price="13.00",
            cycle="month",
            start="2026-01-01",
            origin="self_checkout",
            gateway="sandbox",
        )
        daemon.call("clock.advance", by="1h")
        daemon.call("clock.advance", by="1d")  # the one retry: declined, the final notice

        def failures() -> list[Any]:
            with smtp.lock:  # (the invoice itself is mailed too)
                return [m for m in smtp.messages if "Payment failed" in str(m["Subject"])]

        failed = wait_until(lambda: len(failures()) >= 4 and failures(), what="4 notices")
        to_client = [m for m in failed if "jane@client.test" in str(m["To"])]
        to_ops = [m for m in failed if "ops@acme.test" in str(m["To"])]
        assert len(to_client) == 2 and len(to_ops) == 2
        texts = sorted(m.get_body(("plain",)).get_content() for m in to_client)
        first = [t for t in texts if "We will try again on 2026-01-02." in t]
        final = [t for t in texts if "We will try again" not in t and "bank transfer" in t]
        assert len(first) == len(final) == 1 and "card declined" in first[0]
    finally:
        daemon.stop()


def _slow_sandbox(state: Path, seconds: float) -> None:
    SANDBOX.configure({"state_file": str(state), "answer_seconds": seconds})


def test_R_RUN_7_a_gateway_that_does_not_answer_never_holds_the_run_and_charges_once(
    tctx: ServiceContext, acme: Any, state: Path
) -> None:
    tctx.gateway_timeout = 0.2
    _slow_sandbox(state, 1.5)  # slower than the daemon waits
    client = _self_checkout(tctx, acme)
    began = time.monotonic()
    _run(tctx, dt.date(2026, 1, 1))
    assert time.monotonic() - began < 1.4, "the run waited for the gateway"
    (invoice,) = _invoices(client)
    (attempt,) = ChargeAttempt.select().where(ChargeAttempt.invoice == invoice.id)
    # not a failure: the charge may have gone through, so no retry under a new key
    assert attempt.status == "pending" and attempt.result["status"] == UNANSWERED
    assert attempt.retry_at == dt.datetime(2026, 1, 1, 10, 5)  # ASK_AGAIN later
    assert invoice.status == "open" and _notices() == []
    time.sleep(1.5)  # the gateway's late answer: it charged
    assert _charges(state) == [(f"billingd-invoice-{invoice.id}", "13.00", "succeeded")]

    _slow_sandbox(state, 0)
    assert _retry(tctx, dt.datetime(2026, 1, 1, 10, 4, tzinfo=UTC)) == 0  # not due yet
    assert _retry(tctx, dt.datetime(2026, 1, 1, 10, 5, tzinfo=UTC)) == 1
    # asked again with the same key: the gateway answers what it did, nothing twice
    assert len(_charges(state)) == 1
    assert Invoice.get_by_id(invoice.id).status == "paid"
    attempts = ChargeAttempt.select().where(ChargeAttempt.invoice == invoice.id)
    assert [(a.attempt, a.status, a.retry_at) for a in attempts] == [(0, "succeeded", None)]
    assert Payment.select().where(Payment.client == client.id).count() == 1


def test_a_refund_its_gateway_does_not_answer_stays_pending(
    tctx: ServiceContext, acme: Any, state: Path
) -> None:
    _sandbox(state)
    client = _self_checkout(tctx, acme)
    _run(tctx, dt.date(2026, 1, 1))
    (payment,) = Payment.select().where(Payment.client == client.id)
    tctx.gateway_timeout = 0.2
    _slow_sandbox(state, 1.0)
    with pytest.raises(Conflict, match=r"did not answer; refund \d+ stays pending"):
        refunds.refund_payment(tctx, payment.id, D("13.00"), reason="goodwill")
    (refund,) = Refund.select().where(Refund.payment == payment.id)
    assert refund.status == "pending" and refund.result["status"] == UNANSWERED
    time.sleep(1.0)  # the late answer: refunded at the gateway
    _slow_sandbox(state, 0)
    assert refunds.resume_pending_refunds(tctx) == 1  # as the daemon does when it starts
    assert Refund.get_by_id(refund.id).status == "succeeded"
    assert [k for k, _, _ in _charges(state)].count(refund.idempotency_key) == 1
