"""Refunds: money paid back on a payment (``payment refund``), ledger and audit in one
transaction, the invoices reopened where they must be.

What a refund takes is decided in :mod:`billingd.domain.refunds`: the payment's
unallocated credit first, then its allocations newest first; each undone share raises
its invoice's balance again (status ``open`` or ``partial``; credit notes stay). The
ledger gets ``payment.refunded`` with +amount: the client owes what was given back (or
has that much less credit), so R-LED-1 holds. Should the client still hold credit of
other payments, it is applied to the reopened invoices at once, as a new invoice's
would be (R-PAY-2).

A payment taken through a gateway (its ``method`` names one) is refunded through that
gateway first, with the same crash discipline as charges
(:mod:`billingd.services.gateway_charges`): a ``pending`` Refund row keyed for
idempotency is committed before the gateway is asked, the outcome is recorded after;
a crash in between leaves a pending refund that is asked again with the same key
(:func:`resume_pending_refunds`, at the daemon's start). A refusal by the gateway is
recorded on the Refund row (``failed``) and changes nothing else. A manual payment's
refund (the operator pays back by hand) is recorded at once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billingd.db.connection import is_postgres, write_transaction
from billingd.db.models import Allocation, Invoice, Payment, Refund
from billingd.domain.refunds import Share, plan_refund, refund_problem, refundable, reopened_status
from billingd.errors import Conflict, ValidationError
from billingd.money import has_excess_precision, quantum
from billingd.services import ledger, notifications, payments
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.gateway_calls import UNANSWERED, ask_gateway
from billingd.services.lookup import get_or_refuse
from billingd.views import payment_view

REFUNDED = "payment.refunded"
MANUAL = "manual"


def _locked_payment(payment_id: int) -> Payment:
    query = Payment.select().where(Payment.id == payment_id)
    if is_postgres():
        query = query.for_update()
    payment = query.first()
    if payment is None:
        get_or_refuse(Payment, payment_id)  # raises NotFound
    return payment


def pending_amount(payment: Payment) -> Decimal:
    """What gateway refunds still waiting for their outcome hold of a payment."""
    rows = Refund.select(Refund.amount).where(
        (Refund.payment == payment) & (Refund.status == "pending")
    )
    return sum((r.amount for r in rows), Decimal(0))


def _checked_amount(payment: Payment, amount: Decimal | None) -> Decimal:
    step = quantum(payment.currency)
    available = refundable(payment.amount, payment.refunded, pending_amount(payment))
    available = available.quantize(step)
    requested = available if amount is None else amount
    problem = refund_problem(requested, available)
    if problem:
        raise ValidationError(f"payment {payment.id}: {problem}", field="amount")
    if has_excess_precision(requested, payment.currency):
        raise ValidationError(
            f"amount has more decimals than {payment.currency} allows", field="amount"
        )
    return requested.quantize(step)


def _idempotency_key(payment: Payment) -> str:
    count = Refund.select().where(Refund.payment == payment).count()
    return f"billingd-payment-{payment.id}-refund-{count + 1}"


def refund_payment(
    ctx: ServiceContext, payment_id: int, amount: Decimal | None = None, reason: str = ""
) -> Refund:
    """Refund ``amount`` of a payment (default: all that is left unrefunded).

    Refused (ValidationError on ``amount``) when the amount is not above 0 or above
    what is left; refused (Conflict) with the gateway's message when its gateway
    declines. Returns the succeeded Refund.
    """
    with write_transaction():
        payment = _locked_payment(payment_id)
        requested = _checked_amount(payment, amount)
        if payment.method == MANUAL:
            refund = Refund.create(
                payment=payment,
                amount=requested,
                currency=payment.currency,
                reason=reason,
                method=MANUAL,
                idempotency_key=_idempotency_key(payment),
                status="succeeded",
                actor=ctx.actor,
            )
            _apply(ctx, payment, refund)
            return refund
        if ctx.plugins is None:
            raise Conflict(f"no payment gateway is loaded to refund through {payment.method!r}")
        ctx.plugins.gateway(payment.method)  # NotFound (with the loaded ones) before writing
        refund = Refund.create(
            payment=payment,
            amount=requested,
            currency=payment.currency,
            reason=reason,
            method=payment.method,
            idempotency_key=_idempotency_key(payment),
            status="pending",
            actor=ctx.actor,
        )
    # committed: a crash from here on leaves a pending refund, asked again with its key
    _record_outcome(ctx, refund, _ask_gateway(ctx, refund))
    refund = Refund.get_by_id(refund.id)
    if refund.status == "pending":  # unanswered: it may have gone through
        raise Conflict(
            f"payment gateway {refund.method} did not answer; refund {refund.id} stays"
            " pending and is asked about again with its key when the daemon starts",
            gateway=refund.method,
            refund_id=refund.id,
        )
    if refund.status != "succeeded":
        message = str(refund.result.get("message") or refund.result.get("status") or "declined")
        raise Conflict(
            f"payment gateway {refund.method} refused the refund: {message}",
            gateway=refund.method,
            refund_id=refund.id,
        )
    return refund


def _ask_gateway(ctx: ServiceContext, refund: Refund) -> dict[str, Any]:
    return ask_gateway(
        ctx, refund.method, "refund", payment_view(refund.payment), refund.amount,
        refund.idempotency_key,
    )  # fmt: skip


def _record_outcome(ctx: ServiceContext, refund: Refund, outcome: dict[str, Any]) -> None:
    with write_transaction():
        current = Refund.get_by_id(refund.id)
        if current.status != "pending":  # recorded already (a resume raced the request)
            return
        current.result = outcome
        if outcome.get("status") == UNANSWERED:  # left pending, asked again with its key
            current.save()
            return
        if outcome.get("status") == "succeeded":
            current.status = "succeeded"
            current.save()
            _apply(ctx, _locked_payment(current.payment_id), current)
            return
        current.status = "failed"
        current.save()
        record_audit(
            ctx,
            "payment.refund_failed",
            client_id=current.payment.client_id,
            subject=current.payment,
            refund_id=current.id,
            amount=str(current.amount),
            gateway=current.method,
            message=str(outcome.get("message", "")),
        )


def _apply(ctx: ServiceContext, payment: Payment, refund: Refund) -> None:
    """Book a succeeded refund: credit first, then allocations newest first; inside the
    caller's transaction."""
    allocations = list(
        Allocation.select().where(Allocation.payment == payment).order_by(Allocation.id)
    )
    shares = [Share(a.id, a.invoice_id, a.amount) for a in allocations]
    plan = plan_refund(refund.amount, payment.unallocated, shares)
    by_id = {a.id: a for a in allocations}
    payment.unallocated -= plan.from_credit
    payment.refunded += refund.amount
    payment.save()
    reopened: dict[int, Invoice] = {}  # a payment may hold several allocations to one
    for undo in plan.undone:
        allocation = by_id[undo.allocation_id]
        if undo.remaining > 0:
            allocation.amount = undo.remaining
            allocation.save()
        else:
            allocation.delete_instance()
        invoice = Invoice.select().where(Invoice.id == undo.invoice_id)
        invoice = (invoice.for_update() if is_postgres() else invoice).get()
        old_status = invoice.status
        invoice.balance += undo.amount
        if invoice.status != "void":  # (a void invoice has no allocations: R-INV-8)
            invoice.status = reopened_status(invoice.total, invoice.balance)
        invoice.save()
        reopened[invoice.id] = invoice
        record_audit(
            ctx,
            "invoice.reopened",
            client_id=invoice.client_id,
            subject=invoice,
            number=invoice.number,
            status=[old_status, invoice.status],
            balance=str(invoice.balance),
            refund_id=refund.id,
        )
    client = payment.client
    ledger.post_entry(
        REFUNDED,
        refund.amount,
        client,
        payment=payment,
        memo=f"refund {refund.id} of payment {payment.id}",
    )
    details = {
        "refund_id": refund.id,
        "payment_id": payment.id,
        "amount": str(refund.amount),
        "currency": payment.currency,
        "reason": refund.reason,
        "method": refund.method,
        "reference": str((refund.result or {}).get("reference", "")),
        "from_credit": str(plan.from_credit),
        "invoices": [{"invoice_id": u.invoice_id, "amount": str(u.amount)} for u in plan.undone],
    }
    record_audit(ctx, REFUNDED, client_id=client.id, subject=payment, **details)
    for invoice in reopened.values():  # other credit of the client pays them (R-PAY-2)
        payments.apply_client_credit(ctx, invoice)
    notifications.notify(ctx, REFUNDED, {"client_id": client.id, **details}, client=client)
    ctx.emit(REFUNDED, {"client_id": client.id, **details})


def resume_pending_refunds(ctx: ServiceContext) -> int:
    """Ask again about gateway refunds a crash left without an outcome (same key)."""
    pending = list(Refund.select().where(Refund.status == "pending").order_by(Refund.id))
    for refund in pending:
        _record_outcome(ctx, refund, _ask_gateway(ctx, refund))
    return len(pending)


def list_refunds(payment_id: int) -> list[Refund]:
    get_or_refuse(Payment, payment_id)
    return list(Refund.select().where(Refund.payment == payment_id).order_by(Refund.id))
