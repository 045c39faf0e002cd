"""Invoice disputes (``invoice dispute|undispute``): the client contests an invoice.

While ``Invoice.dispute`` holds a reason, dunning pauses on that invoice (R-DUN-1;
the dunning service reads the state, this module only sets it). Only an issued
invoice can be disputed: not a draft, not a void one. Each change is audited with
the old and the new reason.
"""

from __future__ import annotations

from billingd.db.connection import write_transaction
from billingd.db.models import Invoice
from billingd.domain.bounds import text_problem
from billingd.errors import Conflict, RuleViolation, ValidationError
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.lookup import find_invoice

DEFAULT_REASON = "disputed"
MAX_REASON = 1000


def _issued(invoice: Invoice) -> None:
    if invoice.status in ("draft", "void") or not invoice.number:
        label = invoice.number or f"id {invoice.id}"
        raise RuleViolation(
            "R-DUN-1", f"invoice {label} is {invoice.status}: only an issued invoice is disputed"
        )


def _changed(ctx: ServiceContext, invoice: Invoice, old: str, event: str) -> Invoice:
    record_audit(
        ctx,
        event,
        client_id=invoice.client_id,
        subject=invoice,
        number=invoice.number,
        dispute=[old, invoice.dispute],
    )
    ctx.emit(
        event,
        {
            "id": invoice.id,
            "number": invoice.number,
            "client_id": invoice.client_id,
            "dispute": invoice.dispute,
        },
    )
    return invoice


def dispute_invoice(ctx: ServiceContext, ref: int | str, reason: str = "") -> Invoice:
    """Mark an invoice disputed with ``reason`` ("disputed" when empty); disputing it
    again changes the reason."""
    reason = (reason or "").strip() or DEFAULT_REASON
    problem = text_problem(reason)
    if problem or len(reason) > MAX_REASON:
        raise ValidationError(
            f"reason {problem or f'is longer than {MAX_REASON} characters'}", field="reason"
        )
    with write_transaction():
        invoice = find_invoice(ref, lock=True)
        _issued(invoice)
        old = invoice.dispute
        if old == reason:
            return invoice
        invoice.dispute = reason
        invoice.save()
        return _changed(ctx, invoice, old, "invoice.disputed")


def undispute_invoice(ctx: ServiceContext, ref: int | str) -> Invoice:
    """Clear an invoice's dispute; refused when it has none."""
    with write_transaction():
        invoice = find_invoice(ref, lock=True)
        if not invoice.dispute:
            raise Conflict(f"invoice {invoice.number or invoice.id} is not disputed")
        old = invoice.dispute
        invoice.dispute = ""
        invoice.save()
        return _changed(ctx, invoice, old, "invoice.undisputed")
