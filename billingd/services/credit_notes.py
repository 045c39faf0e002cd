"""Credit notes against invoices (R-CN-1, R-CN-2): numbered (R-NUM-5), and split over
the credited invoice's VAT rates (:mod:`billingd.domain.credit_split`)."""

from __future__ import annotations

from decimal import Decimal

from billingd.db.connection import write_transaction
from billingd.db.models import CreditNote, Invoice, InvoiceLine
from billingd.domain.bounds import id_value
from billingd.domain.credit_split import CreditSplit, gross_by_rate, split_credit
from billingd.errors import NotFound, RuleViolation, ValidationError
from billingd.money import has_excess_precision
from billingd.services import document_queue, documents, ledger, notifications
from billingd.services.audit import record_audit
from billingd.services.closed_periods import check_open
from billingd.services.context import ServiceContext
from billingd.services.lookup import find_invoice, get_or_refuse
from billingd.services.numbering import CREDIT_NOTE, next_number
from billingd.services.payments import settle
from billingd.views import credit_note_view


def credit_split(invoice: Invoice, amount: Decimal) -> CreditSplit:
    """A credit of ``amount`` on an invoice, split over the invoice's VAT categories and
    rates (R-CN-2, R-VAT-1)."""
    lines = InvoiceLine.select(
        InvoiceLine.tax_rate, InvoiceLine.net, InvoiceLine.tax, InvoiceLine.tax_category
    ).where(InvoiceLine.invoice == invoice)
    gross = gross_by_rate(lines.tuples())
    try:
        return split_credit(amount, invoice.currency, gross)
    except ValueError as exc:
        raise RuleViolation("R-CN-1", f"invoice {invoice.number}: {exc}") from None


def issue_credit_note(
    ctx: ServiceContext, *, invoice: int | str, amount: Decimal, reason: str = ""
) -> CreditNote:
    """Credit part or all of an invoice's balance; numbered, documented, ledgered, audited."""
    with write_transaction():
        target = find_invoice(invoice, lock=True)
        if target.status == "void":
            raise RuleViolation("R-CN-1", f"invoice {target.number} is void")
        if target.status == "draft":
            raise RuleViolation("R-CN-1", "a draft invoice cannot be credited; edit it instead")
        if amount <= 0:
            raise ValidationError("amount must be greater than zero", field="amount")
        if has_excess_precision(amount, target.currency):
            raise ValidationError(
                f"amount has more decimals than {target.currency} allows", field="amount"
            )
        if target.balance <= 0:
            raise RuleViolation("R-CN-1", f"invoice {target.number} has no balance to credit")
        if amount > target.balance:
            raise RuleViolation(
                "R-CN-1",
                f"amount {amount} exceeds the balance {target.balance} of {target.number}",
                field="amount",
            )
        enterprise = target.enterprise
        issue_date = ctx.today(enterprise.timezone)
        check_open(enterprise.id, issue_date, "issue a credit note")
        split = credit_split(target, amount)
        note = CreditNote.create(
            enterprise=enterprise,
            invoice=target,
            number=next_number(enterprise, CREDIT_NOTE, issue_date),
            amount=amount,
            net=split.net,
            tax=split.tax,
            tax_breakdown=split.breakdown(),
            currency=target.currency,
            reason=reason,
            issue_date=issue_date,
            actor=ctx.actor,
        )
        settle(target, amount)
        owner = target.client or target.reseller
        ledger.post_entry(
            ledger.CREDIT_NOTE_ISSUED, -amount, owner, invoice=target, credit_note=note
        )
        record_audit(
            ctx,
            "credit_note.issued",
            client_id=target.client_id,
            subject=note,
            number=note.number,
            invoice=target.number,
            amount=str(amount),
            net=str(split.net),
            tax=str(split.tax),
            reason=reason,
            invoice_status=target.status,
        )
        document_queue.enqueue(ctx, note, documents.formats_for(note))  # after the commit
        notifications.notify(
            ctx, "credit_note.issued", lambda: credit_note_view(note),
            client=target.client_id, invoice=target, credit_note=note,
        )  # fmt: skip
    ctx.emit("credit_note.issued", {"id": note.id, "number": note.number, "amount": str(amount)})
    return note


def find_credit_note(ref: int | str) -> CreditNote:
    """A credit note by id (an int) or number (a string; unique per enterprise, and an
    all-digit string that is no number is an id)."""
    if isinstance(ref, int):
        return get_or_refuse(CreditNote, ref)
    matches = list(CreditNote.select().where(CreditNote.number == ref).limit(2))
    if len(matches) > 1:
        raise NotFound(f"credit note number {ref!r} is used by several enterprises; use the id")
    if matches:
        return matches[0]
    by_id = id_value(ref)
    if by_id is not None:
        return get_or_refuse(CreditNote, by_id)
    raise NotFound(f"no credit note {ref!r}", credit_note=ref)


def list_credit_notes(client_id: int | None = None, invoice: int | str | None = None) -> list:
    query = CreditNote.select().order_by(CreditNote.id.desc())
    if invoice is not None:
        query = query.where(CreditNote.invoice == find_invoice(invoice))
    if client_id is not None:
        query = query.join(Invoice).where(Invoice.client == client_id)
    return list(query)
