"""Manual payments, their allocation, and client credit (R-PAY-1..3)."""

from __future__ import annotations

from decimal import Decimal

from billingd.db.connection import is_postgres, write_transaction
from billingd.db.models import Allocation, Client, Invoice, Payment
from billingd.db.prepared import PreparedSelect, Slot
from billingd.domain.allocation import OpenItem, allocate_payment, settled_status
from billingd.errors import RuleViolation, ValidationError
from billingd.money import has_excess_precision, quantum
from billingd.services import ledger, notifications
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.lookup import find_invoice, get_or_refuse

OPEN_STATUSES = ("open", "partial")


def _open_invoices(client: Client) -> list[Invoice]:
    query = (
        Invoice.select()
        .where((Invoice.client == client) & Invoice.status.in_(OPEN_STATUSES))
        .order_by(Invoice.id)
    )
    if is_postgres():
        query = query.for_update()
    return list(query)


def settle(invoice: Invoice, amount: Decimal) -> None:
    """Lower an invoice's balance by a payment share or credit and update its status."""
    invoice.balance -= amount
    invoice.status = settled_status(invoice.total, invoice.balance)
    invoice.save()


def _allocate(payment: Payment, invoice: Invoice, amount: Decimal) -> None:
    Allocation.create(payment=payment, invoice=invoice, amount=amount)
    settle(invoice, amount)


def record_payment(
    ctx: ServiceContext,
    *,
    client_id: int,
    amount: Decimal,
    invoice: int | str | None = None,
    currency: str | None = None,
    reference: str = "",
    notes: str = "",
    method: str = "manual",
) -> Payment:
    """Record a payment and allocate it: target first, then by the policy; the rest is credit."""
    with write_transaction():
        client = get_or_refuse(Client, client_id)
        if currency is not None and currency.upper() != client.currency:
            raise RuleViolation(
                "R-MONEY-3", f"client {client.id} is billed in {client.currency}, not {currency}"
            )
        if amount < quantum(client.currency):
            raise ValidationError(
                f"amount must be at least {quantum(client.currency)}", field="amount"
            )
        if has_excess_precision(amount, client.currency):
            raise ValidationError(
                f"amount has more decimals than {client.currency} allows", field="amount"
            )
        open_invoices = _open_invoices(client)  # locked in id order: no deadlock between payers
        target = find_invoice(invoice) if invoice is not None else None
        if target is not None:
            if target.client_id != client.id:
                raise ValidationError(
                    f"invoice {target.number} belongs to another client", field="invoice"
                )
            if target.status == "void":
                raise RuleViolation("R-PAY-2", f"invoice {target.number} is void")
        items = [
            OpenItem(i.id, i.issue_date, i.due_date, i.balance, i.number or "")
            for i in open_invoices
        ]
        shares, remainder = allocate_payment(
            amount, items, target.id if target else None, ctx.allocation_policy
        )
        payment = Payment.create(
            client=client,
            amount=amount,
            currency=client.currency,
            method=method,
            reference=reference,
            notes=notes,
            unallocated=remainder,
            actor=ctx.actor,
            received_at=ctx.now_utc(),  # the test clock's now when it is on
        )
        by_id = {i.id: i for i in open_invoices}
        for invoice_id, share in shares:
            _allocate(payment, by_id[invoice_id], share)
        kind = "payment.manual" if method == "manual" else "payment.gateway"
        ledger.post_entry(kind, -amount, client, payment=payment)
        record_audit(
            ctx,
            "payment.recorded",
            client_id=client.id,
            subject=payment,
            amount=str(amount),
            reference=reference,
            allocations=[{"invoice_id": i, "amount": str(a)} for i, a in shares],
            credit=str(remainder),
        )
        notifications.notify(  # the payment-received notice (R-PAY-3, R-DEL-5)
            ctx,
            "payment.received",
            {
                "payment_id": payment.id,
                "client_id": client.id,
                "amount": str(amount),
                "currency": client.currency,
                "method": method,
                "reference": reference,
                "date": ctx.today(client.enterprise.timezone).isoformat(),
                "allocations": [
                    {"invoice_id": i, "number": by_id[i].number, "amount": str(a)}
                    for i, a in shares
                ],
                "credit": str(remainder),
            },
            client=client,
            invoice=shares[0][0] if len(shares) == 1 else None,
        )
    ctx.emit("payment.recorded", {"id": payment.id, "client_id": client.id, "amount": str(amount)})
    return payment


UNALLOCATED = PreparedSelect(
    lambda: Payment.select(Payment.unallocated).where(Payment.client == Slot("client"))
)


def apply_client_credit(ctx: ServiceContext, invoice: Invoice) -> Decimal:
    """Pay a newly issued invoice from the client's unapplied credit, oldest payment first.

    Call inside the issuing transaction. Returns the amount applied.
    """
    if invoice.client_id is None or invoice.balance <= 0:
        return Decimal(0)
    if not any(left > 0 for (left,) in UNALLOCATED.tuples(client=invoice.client_id)):
        return Decimal(0)  # the usual case: no credit, nothing locked
    query = (
        Payment.select()
        .where(Payment.client == invoice.client_id)
        .order_by(Payment.received_at, Payment.id)
    )
    if is_postgres():
        query = query.for_update()
    applied = Decimal(0)
    for payment in query:
        if payment.unallocated <= 0:
            continue
        share = min(payment.unallocated, invoice.balance)
        if share <= 0:
            break
        payment.unallocated -= share
        payment.save()
        _allocate(payment, invoice, share)
        applied += share
    if applied:
        ledger.post_entry(
            ledger.CREDIT_APPLIED,
            Decimal(0),
            invoice.client,
            invoice=invoice,
            memo=f"{applied} of client credit applied to {invoice.number}",
        )
        record_audit(
            ctx,
            "credit.applied",
            client_id=invoice.client_id,
            subject=invoice,
            amount=str(applied),
            number=invoice.number,
        )
    return applied


def list_payments(client_id: int | None = None, limit: int = 200) -> list[Payment]:
    query = Payment.select().order_by(Payment.id.desc()).limit(limit)
    if client_id is not None:
        query = query.where(Payment.client == client_id)
    return list(query)
