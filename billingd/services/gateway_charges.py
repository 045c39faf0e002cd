"""Charging self-checkout invoices through their gateway (R-RUN-7).

The attempt is written, keyed for idempotency, before the gateway is asked; the
outcome is recorded after. A crash in between leaves a pending attempt that the
next run asks about again with the same key, and the gateway answers with the
first outcome instead of charging twice.
"""

from __future__ import annotations

import logging
from typing import Any

from billingd.db.connection import write_transaction
from billingd.db.models import ChargeAttempt, Invoice, InvoiceLine, Notification
from billingd.services import payments
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.views import invoice_view

log = logging.getLogger("billingd.gateways")


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
    try:
        gateway = ctx.plugins.gateway(attempt.gateway)  # type: ignore[union-attr]
        return gateway.charge(
            invoice_view(attempt.invoice), str(attempt.amount), attempt.idempotency_key
        )
    except Exception as exc:  # a plugin error is a failed charge, never a crash
        log.exception("gateway %s failed for invoice %s", attempt.gateway, attempt.invoice_id)
        return {"status": "failed", "message": f"gateway error: {type(exc).__name__}: {exc}"}


def _record_outcome(ctx: ServiceContext, attempt: ChargeAttempt, outcome: dict[str, Any]) -> bool:
    status = outcome.get("status")
    invoice = attempt.invoice
    with write_transaction():
        attempt.result = outcome
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
            attempt.save()
            payload = {
                "invoice": invoice.number,
                "amount": str(attempt.amount),
                "message": outcome.get("message", ""),
            }
            for audience in ("client", "operator"):
                Notification.create(
                    event="payment.failed",
                    audience=audience,
                    client=invoice.client,
                    payload=payload,
                )
            record_audit(
                ctx, "payment.failed", client_id=invoice.client_id, subject=invoice, **payload
            )
            ctx.emit("payment.failed", {"client_id": invoice.client_id, **payload})
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
