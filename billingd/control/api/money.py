"""Methods for payments, credit notes, pending charges, price overrides, summaries, periods."""

from __future__ import annotations

from typing import Any

from billingd.control.api.invoices import WAIT, WAIT_HELP, document_reply
from billingd.control.params import Date, Int, Money, PositiveInt, Ref, Str
from billingd.control.registry import method
from billingd.db.models import Client
from billingd.money import quantize
from billingd.services import (
    charges,
    closed_periods,
    credit_notes,
    disputes,
    ledger,
    payments,
    refunds,
)
from billingd.services.context import ServiceContext
from billingd.services.lookup import get_or_refuse
from billingd.views import charge_view, credit_note_view, invoice_view, payment_view, plain


@method(
    "payment.record",
    writes=True,
    result="the new `Payment` with its allocations",
    client=Int(required=True),
    amount=Money(required=True),
    invoice=Ref(),
    currency=Str(),
    reference=Str(default=""),
    notes=Str(default=""),
)
def payment_record(
    ctx: ServiceContext,
    client: int,
    amount: Any,
    reference: str,
    notes: str,
    invoice: Any = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """Record a manual payment and allocate it (R-PAY-1, R-PAY-2)."""
    payment = payments.record_payment(
        ctx,
        client_id=client,
        amount=amount,
        invoice=invoice,
        currency=currency,
        reference=reference,
        notes=notes,
    )
    return payment_view(payment)


@method(
    "payment.list",
    writes=False,
    result="list of `Payment`, newest first",
    client=Int(),
    limit=PositiveInt(default=200),
)
def payment_list(ctx: ServiceContext, limit: int, client: int | None = None) -> list[dict]:
    """Payments, newest first."""
    return [payment_view(p) for p in payments.list_payments(client, min(limit, 1000))]


@method(
    "payment.refund",
    writes=True,
    result="the `Payment` with its `refunded` total and its `refunds` (list of `Refund`)",
    payment=Int(required=True),
    amount=Money(help="default: all that is left unrefunded"),
    reason=Str(default=""),
)
def payment_refund(
    ctx: ServiceContext, payment: int, reason: str, amount: Any = None
) -> dict[str, Any]:
    """Refund part or all of a payment (default: all that is left unrefunded).

    Its unallocated credit goes first, then its allocations newest first: those invoices
    reopen. A payment taken through a gateway is refunded through that gateway.
    """
    refund = refunds.refund_payment(ctx, payment, amount, reason)
    return payment_view(refund.payment)


@method(
    "invoice.dispute",
    writes=True,
    result="the `Invoice` with its `dispute`",
    invoice=Ref(required=True),
    reason=Str(default="", help='why the client contests it (default "disputed")'),
)
def invoice_dispute(ctx: ServiceContext, invoice: Any, reason: str) -> dict[str, Any]:
    """Mark an issued invoice disputed: dunning pauses on it (R-DUN-1)."""
    return invoice_view(disputes.dispute_invoice(ctx, invoice, reason))


@method(
    "invoice.undispute",
    writes=True,
    result="the `Invoice` with `dispute` empty",
    invoice=Ref(required=True),
)
def invoice_undispute(ctx: ServiceContext, invoice: Any) -> dict[str, Any]:
    """Clear an invoice's dispute: dunning goes on (R-DUN-1)."""
    return invoice_view(disputes.undispute_invoice(ctx, invoice))


@method(
    "credit_note.issue",
    writes=True,
    result="the new `CreditNote`",
    invoice=Ref(required=True),
    amount=Money(required=True),
    reason=Str(default=""),
)
def credit_note_issue(ctx: ServiceContext, invoice: Any, amount: Any, reason: str) -> dict:
    """Issue a credit note against an invoice's balance (R-CN-1, R-CN-2)."""
    note = credit_notes.issue_credit_note(ctx, invoice=invoice, amount=amount, reason=reason)
    return credit_note_view(note)


@method(
    "credit_note.list", writes=False, result="list of `CreditNote`", client=Int(), invoice=Ref()
)
def credit_note_list(
    ctx: ServiceContext, client: int | None = None, invoice: Any = None
) -> list[dict]:
    """Credit notes, newest first, of a client or an invoice."""
    return [credit_note_view(n) for n in credit_notes.list_credit_notes(client, invoice)]


@method(
    "credit_note.pdf",
    writes=False,
    result="`{credit_note_id, number, format, media_type, content_base64}`: the document",
    credit_note=Ref(required=True),
    format=Str(default="pdf", help="pdf (rendered after issue)"),
    wait=Int(default=30, bound=WAIT, help=WAIT_HELP),
)
def credit_note_pdf(
    ctx: ServiceContext, credit_note: int | str, format: str, wait: int
) -> dict[str, Any]:
    """A credit note's document, base64-encoded (R-CN-2)."""
    note = credit_notes.find_credit_note(credit_note)
    reply = document_reply(ctx, note, format, wait)
    return {"credit_note_id": note.id, "number": note.number, **reply}


@method(
    "charge.add",
    writes=True,
    result="the new `Charge` (status pending)",
    client=Int(required=True),
    description=Str(required=True),
    amount=Money(required=True),
    contract=Int(),
    date=Date(help="eligible from this day"),
    notes=Str(default=""),
    currency=Str(),
)
def charge_add(
    ctx: ServiceContext,
    client: int,
    description: str,
    amount: Any,
    notes: str,
    contract: int | None = None,
    date: Any = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """Add a pending one-time charge for the client's next invoice."""
    charge = charges.add_charge(
        ctx,
        client_id=client,
        description=description,
        amount=amount,
        contract_id=contract,
        schedule_date=date,
        notes=notes,
        currency=currency,
    )
    return charge_view(charge)


@method(
    "charge.list", writes=False, result="list of `Charge`", client=Int(required=True), status=Str()
)
def charge_list(ctx: ServiceContext, client: int, status: str | None = None) -> list[dict]:
    """A client's pending charges (and invoiced or cancelled ones)."""
    return [charge_view(c) for c in charges.list_charges(client, status)]


@method(
    "charge.cancel", writes=True, result="the `Charge` (status cancelled)", id=Int(required=True)
)
def charge_cancel(ctx: ServiceContext, id: int) -> dict[str, Any]:
    """Cancel a pending charge."""
    return charge_view(charges.cancel_charge(ctx, id))


@method(
    "price_override.set",
    writes=True,
    result="`{contract_id, final_amount, active}`",
    contract=Int(required=True),
    amount=Money(required=True),
)
def price_override_set(ctx: ServiceContext, contract: int, amount: Any) -> dict[str, Any]:
    """Set a contract's final amount on its next invoice (equal to the base clears it)."""
    override = charges.set_price_override(ctx, contract_id=contract, final_amount=amount)
    return {"contract_id": contract, "final_amount": str(amount), "active": override is not None}


@method(
    "price_override.clear",
    writes=True,
    result="`{contract_id, active}` (active false)",
    contract=Int(required=True),
)
def price_override_clear(ctx: ServiceContext, contract: int) -> dict[str, Any]:
    """Remove a contract's price override."""
    charges.clear_price_override(ctx, contract)
    return {"contract_id": contract, "active": False}


@method(
    "summary",
    writes=False,
    result=(
        "`{client_id, currency, total_invoiced, total_paid, balance_due, ledger_balance, credit}`"
    ),
    client=Int(required=True),
)
def summary(ctx: ServiceContext, client: int) -> dict[str, Any]:
    """A client's summary cards: invoiced, paid, balance due, ledger balance (R-LED-2)."""
    row = get_or_refuse(Client, client)
    cards = {**ledger.summary(row), "credit": ledger.unapplied_credit(row)}
    return {
        "client_id": client,
        "currency": row.currency,
        **{name: plain(quantize(amount, row.currency)) for name, amount in cards.items()},
    }


@method(
    "period.close",
    writes=True,
    result="`{enterprise_id, month, actor}`",
    enterprise=Int(required=True),
    month=Str(required=True),
)
def period_close(ctx: ServiceContext, enterprise: int, month: str) -> dict[str, Any]:
    """Close a month: nothing may be issued, voided or credited in it (R-INV-13)."""
    closed = closed_periods.close_period(ctx, enterprise_id=enterprise, month=month)
    return {"enterprise_id": enterprise, "month": closed.month, "actor": closed.actor}


@method(
    "period.list",
    writes=False,
    result="list of `{enterprise_id, month, actor, closed_at}`",
    enterprise=Int(),
)
def period_list(ctx: ServiceContext, enterprise: int | None = None) -> list[dict[str, Any]]:
    """Closed months."""
    return [
        {
            "enterprise_id": p.enterprise_id,
            "month": p.month,
            "actor": p.actor,
            "closed_at": plain(p.closed_at),
        }
        for p in closed_periods.list_closed(enterprise)
    ]
