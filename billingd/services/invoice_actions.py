"""What happens to an issued invoice: void, void & reissue, send, address edit (R-INV-8..12)."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

from billingd.db.connection import write_transaction
from billingd.db.models import (
    BilledCycle,
    Delivery,
    Invoice,
    PendingCharge,
    PriceOverride,
    UsageRecord,
)
from billingd.db.prepared import PreparedInsert
from billingd.errors import RuleViolation, ValidationError
from billingd.money import quantize
from billingd.services import document_queue, invoicing, ledger, mail, notifications, outbox
from billingd.services.audit import record_audit
from billingd.services.billing_items import collect_items
from billingd.services.closed_periods import check_open
from billingd.services.context import ServiceContext
from billingd.services.lookup import find_invoice
from billingd.services.numbering import INVOICE, latest_issue_date
from billingd.services.parties import default_bill_group


def _refuse_unless_voidable(invoice: Invoice) -> None:
    """R-INV-8: only an issued invoice with no allocations and no credit notes."""
    if invoice.status == "void":
        raise RuleViolation("R-INV-8", f"invoice {invoice.number} is already void")
    if invoice.status == "draft":
        raise RuleViolation("R-INV-8", "a draft has no number to void; delete its lines instead")
    if invoice.allocations.exists():
        raise RuleViolation("R-INV-8", f"invoice {invoice.number} has payments allocated")
    if invoice.credit_notes.exists():
        raise RuleViolation("R-INV-8", f"invoice {invoice.number} has credit notes")
    check_open(invoice.enterprise_id, invoice.issue_date, "void an invoice issued")


def _void(ctx: ServiceContext, invoice: Invoice, reason: str) -> None:
    _refuse_unless_voidable(invoice)
    old_status = invoice.status
    invoice.status = "void"
    invoice.balance = quantize(Decimal(0), invoice.currency)
    invoice.save()
    owner = invoice.client or invoice.reseller
    ledger.post_entry(ledger.VOIDED, -invoice.total, owner, invoice=invoice)
    record_audit(
        ctx,
        "invoice.voided",
        client_id=invoice.client_id,
        subject=invoice,
        number=invoice.number,
        total=str(invoice.total),
        status=[old_status, "void"],
        reason=reason,
    )
    ctx.emit("invoice.voided", {"id": invoice.id, "number": invoice.number})
    notifications.notify(
        ctx, "invoice.voided", {"id": invoice.id, "number": invoice.number, "reason": reason},
        client=invoice.client_id, invoice=invoice,
    )  # fmt: skip


def void_invoice(ctx: ServiceContext, invoice: int | str, reason: str = "") -> Invoice:
    """Void an invoice; it keeps its number and what it billed stays billed (R-INV-8)."""
    with write_transaction():
        target = find_invoice(invoice, lock=True)
        _void(ctx, target, reason)
    return target


def _release_claims(invoice: Invoice) -> None:
    """Make what a voided invoice billed billable again, for its replacement."""
    BilledCycle.delete().where(BilledCycle.invoice == invoice).execute()
    UsageRecord.update(invoice=None).where(UsageRecord.invoice == invoice).execute()
    UsageRecord.update(reseller_invoice=None).where(
        UsageRecord.reseller_invoice == invoice
    ).execute()
    PendingCharge.update(status="pending", invoice=None).where(
        PendingCharge.invoice == invoice
    ).execute()
    PriceOverride.update(status="active", invoice=None).where(
        PriceOverride.invoice == invoice
    ).execute()


def reissue_invoice(ctx: ServiceContext, invoice: int | str, reason: str = "") -> Invoice:
    """Void an invoice and regenerate its period from current data as a new invoice (R-INV-9)."""
    with write_transaction():
        old = find_invoice(invoice, lock=True)
        _void(ctx, old, reason or "reissued")
        _release_claims(old)
        owner = old.client or old.reseller
        issue_date = ctx.today(old.enterprise.timezone)
        if old.period_start is not None:
            items = collect_items(owner, old.period_start, old.period_end, old.bill_group_id)
            if not items.lines:
                raise RuleViolation("R-INV-9", f"nothing to reissue for invoice {old.number}")
            period = (old.period_start, old.period_end)
            draft = invoicing.build_draft(owner, items, issue_date, period)
        else:
            draft = invoicing.copy_draft(old, issue_date)
        draft.bill_group = old.bill_group
        draft.billing_date = old.billing_date
        new = invoicing.persist(ctx, draft, origin="reissue", replaces=old)
        record_audit(
            ctx,
            "invoice.reissued",
            client_id=old.client_id,
            subject=new,
            replaces=old.number,
            number=new.number,
        )
    return new


INSERT_DELIVERY = PreparedInsert(Delivery)


def send_invoice(ctx: ServiceContext, invoice: int | str | Invoice) -> Delivery:
    """Queue the invoice's email to its recipients; every send is recorded (R-INV-10).

    The recipients are the bill group's at issue, else the client's billing emails
    (seed 004, R-RUN-17). The outbox delivers it after the documents are rendered
    (R-DEL-3); the Delivery row follows the message's state. An ``Invoice`` object is
    one that the caller's open transaction issued (a run's batch): it is not read again.
    """
    issued_now = isinstance(invoice, Invoice)
    # the transaction that issued the invoice is all-or-nothing already: no savepoint
    with contextlib.nullcontext() if issued_now else write_transaction():
        target = invoice if issued_now else find_invoice(invoice, lock=True)
        if target.status in ("void", "draft"):
            raise RuleViolation("R-INV-10", f"a {target.status} invoice cannot be sent")
        recipients = mail.invoice_recipients(target)
        if not recipients:
            raise RuleViolation("R-INV-10", "the client has no billing email")
        recipient = ", ".join(recipients)
        delivery = INSERT_DELIVERY.save(
            Delivery(invoice=target, recipient=recipient, actor=ctx.actor)
        )
        resend = not issued_now and Delivery.select().where(Delivery.invoice == target).count() > 1
        owner = target.client or target.reseller
        outbox.enqueue(
            ctx,
            channel=outbox.EMAIL,
            kind="invoice",
            recipients=recipients,
            language=owner.language,
            enterprise=target.enterprise_id,
            client=target.client_id,
            invoice=target,
            delivery=delivery,
        )
        record_audit(
            ctx,
            "invoice.sent",
            client_id=target.client_id,
            subject=target,
            number=target.number,
            recipient=recipient,
            resend=resend,
        )
        notifications.notify(
            ctx, "invoice.sent", {"id": target.id, "number": target.number,
                                  "recipients": recipients, "resend": resend},
            client=target.client_id, invoice=target,
        )  # fmt: skip
    ctx.emit("invoice.sent", {"id": target.id, "number": target.number, "recipient": recipient})
    return delivery


def edit_address(ctx: ServiceContext, invoice: int | str, address: str) -> Invoice:
    """Change the billing address on an issued invoice and queue its documents' new
    version (R-INV-12, R-INV-11)."""
    if not address.strip():
        raise ValidationError("address must not be empty", field="address")
    with write_transaction():
        target = find_invoice(invoice, lock=True)
        if target.status == "void":
            raise RuleViolation("R-INV-12", f"invoice {target.number} is void")
        bill_to = dict(target.bill_to or {})
        old = bill_to.get("address", "")
        bill_to["address"] = address
        target.bill_to = bill_to
        target.save()
        record_audit(
            ctx,
            "invoice.address_edited",
            client_id=target.client_id,
            subject=target,
            number=target.number,
            old=old,
            new=address,
        )
        document_queue.rerender_invoice(ctx, target)  # a new version; the old kept
    ctx.emit("invoice.address_edited", {"id": target.id, "number": target.number})
    return target


def deliveries(invoice: int | str) -> list[Delivery]:
    return list(find_invoice(invoice).deliveries.order_by(Delivery.id))


def approve_invoice(ctx: ServiceContext, invoice: int | str) -> Invoice:
    """Issue a draft from the review window: number, ledger, document (R-RUN-12)."""
    with write_transaction():
        target = find_invoice(invoice, lock=True)
        if target.status != "draft":
            raise RuleViolation("R-RUN-12", f"invoice {target.number} is not a draft")
        enterprise = target.enterprise
        issued_on = max(target.issue_date, ctx.today(enterprise.timezone))
        latest = latest_issue_date(enterprise, INVOICE, issued_on)
        if latest is not None and latest > issued_on:
            issued_on = latest  # numbers follow issue dates (R-NUM-6)
        target.due_date += issued_on - target.issue_date
        target.issue_date = issued_on
        invoicing.issue(ctx, target)
    return target


def approve_due_drafts(ctx: ServiceContext, today: dt.date) -> list[Invoice]:
    """Issue the drafts whose bill group's review window has ended (R-RUN-12)."""
    issued = []
    # read whole first: an open cursor's read snapshot would make each approval's write
    # transaction fail at once ("database is locked") after another process's commit
    drafts = list(Invoice.select().where(Invoice.status == "draft").order_by(Invoice.id))
    for draft in drafts:
        group = draft.bill_group or (default_bill_group(draft.client) if draft.client else None)
        window = group.review_days if group is not None else 0
        if draft.issue_date + dt.timedelta(days=window) <= today:
            issued.append(approve_invoice(ctx, draft.id))
    return issued
