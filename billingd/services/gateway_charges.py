"""Charging self-checkout invoices through their gateway (R-RUN-7), and trying again.

The attempt is written, keyed for idempotency, before the gateway is asked; the
outcome is recorded after. A crash in between leaves a pending attempt that the
next run asks about again with the same key, and the gateway answers with the
first outcome instead of charging twice.

A failed charge tells the client and the operator (``payment.failed`` through the
notifier plugins, R-DEL-5) and is tried again on the retry schedule (config
``payment_retries``, days after the first failure, :mod:`billingd.domain.
charge_retries`), on the daemon's clock, by the scheduler
(:func:`retry_due_charges`). Each retry is a new charge with a key of its own
(``billingd-invoice-<id>-retry-<n>``); its attempt row is written in the same
transaction that takes the retry off the schedule, so each retry is asked for once,
across restarts too. A retry that succeeds pays the invoice, and the contract bills
its next cycles again; after the last failed retry the invoice stays open and the
notice says so (``final``). Retries wait while the invoice is disputed and stop when
it was settled otherwise (paid, credited, voided).

A gateway that does not answer within ``gateway_timeout`` (:mod:`billingd.services.
gateway_calls`) may have charged: its attempt stays pending and is asked about again
with the same key after :data:`ASK_AGAIN`, never charged under a new one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from billingd.db.connection import write_transaction
from billingd.db.models import ChargeAttempt, Invoice, InvoiceLine
from billingd.domain.charge_retries import next_retry_at, retry_key
from billingd.services import notifications, payments
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.gateway_calls import UNANSWERED, ask_gateway
from billingd.views import invoice_view, plain

OPEN = ("open", "partial")


def self_checkout_contract(invoice: Invoice):  # type: ignore[no-untyped-def]
    """The self-checkout contract an invoice charges through, if any."""
    for line in invoice.lines.order_by(InvoiceLine.position):
        contract = line.contract
        if (
            contract is not None
            and contract.origin == "self_checkout"
            and contract.payment_method not in ("", "manual")
        ):
            return contract
    return None


def _ask_gateway(ctx: ServiceContext, attempt: ChargeAttempt) -> dict[str, Any]:
    return ask_gateway(
        ctx, attempt.gateway, "charge", invoice_view(attempt.invoice), attempt.amount,
        attempt.idempotency_key,
    )  # fmt: skip


def _first_failure(attempt: ChargeAttempt) -> dt.datetime:
    """When the invoice's first charge failed: the retry schedule counts from it."""
    if attempt.attempt == 0:
        return attempt.failed_at
    first = (
        ChargeAttempt.select(ChargeAttempt.failed_at)
        .where(
            (ChargeAttempt.invoice == attempt.invoice_id)
            & (ChargeAttempt.attempt == 0)
            & ChargeAttempt.failed_at.is_null(False)
        )
        .first()
    )
    return first.failed_at if first is not None else attempt.failed_at


def _failure_notice(
    ctx: ServiceContext, attempt: ChargeAttempt, invoice: Invoice, message: str
) -> dict[str, Any]:
    retry_at = attempt.retry_at
    local = None
    if retry_at is not None:
        zone = ZoneInfo(invoice.enterprise.timezone)
        local = retry_at.replace(tzinfo=dt.UTC).astimezone(zone).date().isoformat()
    return {
        "invoice": invoice.number,
        "invoice_id": invoice.id,
        "client_id": invoice.client_id,
        "amount": str(attempt.amount),
        "currency": invoice.currency,
        "gateway": attempt.gateway,
        "message": message,
        "attempt": attempt.attempt + 1,
        "retries": len(ctx.payment_retries),
        "next_retry_at": plain(retry_at),
        "next_retry_date": local,
        "next_retry": local,  # (the email notices' name for it)
        "final": retry_at is None,
    }


def _record_outcome(ctx: ServiceContext, attempt: ChargeAttempt, outcome: dict[str, Any]) -> bool:
    """Record the gateway's answer once: paid, failed (told, next retry planned) or
    requiring action. True when the invoice was paid."""
    status = outcome.get("status")
    with write_transaction():
        attempt = ChargeAttempt.get_by_id(attempt.id)
        if attempt.status != "pending":  # recorded already
            return attempt.status == "succeeded"
        invoice = Invoice.get_by_id(attempt.invoice_id)
        attempt.result = outcome
        if status == UNANSWERED:  # it may have gone through: asked again, same key
            attempt.retry_at = ctx.now_utc() + ASK_AGAIN
            attempt.save()
            return False
        if status == "succeeded":
            attempt.status = "succeeded"
            attempt.save()
            payments.record_payment(
                ctx,
                client_id=invoice.client_id,
                amount=attempt.amount,
                invoice=invoice.id,
                reference=str(outcome.get("reference", "")),
                method=attempt.gateway,
            )
            return True
        if status == "failed":
            attempt.status = "failed"
            attempt.failed_at = ctx.now_utc()
            attempt.retry_at = next_retry_at(
                ctx.payment_retries, _first_failure(attempt), attempt.attempt
            )
            attempt.save()
            payload = _failure_notice(ctx, attempt, invoice, str(outcome.get("message", "")))
            details = {k: v for k, v in payload.items() if k != "client_id"}
            record_audit(
                ctx, "payment.failed", client_id=invoice.client_id, subject=invoice, **details
            )
            # the client and the operator are told (R-RUN-7, R-DEL-5)
            notifications.notify(
                ctx, "payment.failed", payload, client=invoice.client_id, invoice=invoice
            )
            ctx.emit("payment.failed", payload)
            return False
        attempt.status = "requires_action"
        attempt.save()
        return False


def charge_self_checkout(ctx: ServiceContext, invoice: Invoice) -> int:
    """Charge an issued self-checkout invoice; returns 1 when a charge was attempted."""
    contract = self_checkout_contract(invoice)
    if contract is None or invoice.balance <= 0:
        return 0
    key = f"billingd-invoice-{invoice.id}"
    with write_transaction():
        attempt = ChargeAttempt.get_or_none(ChargeAttempt.idempotency_key == key)
        if attempt is None:
            attempt = ChargeAttempt.create(
                invoice=invoice,
                contract=contract,
                gateway=contract.payment_method,
                idempotency_key=key,
                amount=invoice.balance,
            )
    _record_outcome(ctx, attempt, _ask_gateway(ctx, attempt))
    return 1


def resume_pending_charges(ctx: ServiceContext) -> int:
    """Ask again about attempts a crash left without an outcome (same idempotency key)."""
    pending = list(ChargeAttempt.select().where(ChargeAttempt.status == "pending"))
    for attempt in pending:
        _record_outcome(ctx, attempt, _ask_gateway(ctx, attempt))
    return len(pending)


# -- the retry schedule (R-RUN-7) ------------------------------------------------------


ASK_AGAIN = dt.timedelta(minutes=5)
"""When a charge its gateway did not answer is asked about again (same key)."""

_WAITING = ChargeAttempt.status.in_(["failed", "pending"])
"""Attempts that may have a retry due: failed ones, and pending ones not answered."""


def _due(until: dt.datetime) -> list[ChargeAttempt]:
    """Attempts whose retry (or question again, when unanswered) is due by ``until``
    (naive UTC), earliest first; a disputed invoice's wait."""
    return list(
        ChargeAttempt.select()
        .join(Invoice)
        .where(
            _WAITING
            & ChargeAttempt.retry_at.is_null(False)
            & (ChargeAttempt.retry_at <= until)
            & (Invoice.dispute == "")
        )
        .order_by(ChargeAttempt.retry_at, ChargeAttempt.id)
    )


def next_retry(ctx: ServiceContext) -> dt.datetime | None:
    """When the earliest planned retry is due (aware UTC), or None."""
    row = (
        ChargeAttempt.select(ChargeAttempt.retry_at)
        .where(_WAITING & ChargeAttempt.retry_at.is_null(False))
        .order_by(ChargeAttempt.retry_at)
        .first()
    )
    return row.retry_at.replace(tzinfo=dt.UTC) if row is not None else None


def _start_retry(ctx: ServiceContext, attempt_id: int) -> ChargeAttempt | None:
    """Take a due retry off the schedule and write its attempt, in one transaction:
    each retry is asked for once. An unanswered attempt is itself asked again, with its
    key. None when there is nothing to charge any more."""
    with write_transaction():
        failed = ChargeAttempt.get_by_id(attempt_id)
        if failed.status not in ("failed", "pending") or failed.retry_at is None:
            return None  # taken by another daemon
        failed.retry_at = None
        failed.save()
        if failed.status == "pending":
            return failed
        invoice = Invoice.get_by_id(failed.invoice_id)
        if invoice.status not in OPEN or invoice.balance <= 0:
            return None  # settled meanwhile (paid by hand, credited, voided)
        retry = failed.attempt + 1
        return ChargeAttempt.create(
            invoice=invoice,
            contract=failed.contract_id,
            gateway=failed.gateway,
            idempotency_key=retry_key(invoice.id, retry),
            amount=invoice.balance,
            attempt=retry,
        )


def retry_due_charges(ctx: ServiceContext, until: dt.datetime | None = None) -> int:
    """Charge again every failed self-checkout invoice whose retry is due by ``until``
    (aware; default now). On the test clock each retry happens at its own instant.
    Events go on ``ctx.events``. Returns how many charges were asked for."""
    until = until or ctx.clock.now()
    limit = until.astimezone(dt.UTC).replace(tzinfo=None)
    test_clock = getattr(ctx.clock, "is_test", False)
    asked = 0
    while due := _due(limit):  # a failed retry may plan the next one by ``until`` too
        for attempt in due:
            step = ctx.acting_as(ctx.actor)
            if test_clock:  # the retry happens on its day, as if that time had passed
                step = step.at(attempt.retry_at.replace(tzinfo=dt.UTC))
            retry = _start_retry(step, attempt.id)
            if retry is not None:
                _record_outcome(step, retry, _ask_gateway(step, retry))
                asked += 1
            ctx.events.extend(step.events)
    return asked
