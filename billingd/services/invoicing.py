"""Invoices: for a period, for an amount, preview, issue (R-INV-1..7, R-NUM-3)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billingd.db.connection import read_transaction, write_transaction
from billingd.db.models import (
    BilledCycle,
    Client,
    Contract,
    Invoice,
    InvoiceLine,
    PendingCharge,
    PriceOverride,
    Reseller,
    UsageRecord,
)
from billingd.domain.periods import period_bounds
from billingd.domain.totals import TaxGroup, Totals, compute_totals, split_gross
from billingd.errors import RuleViolation, ValidationError
from billingd.money import has_excess_precision
from billingd.services import documents, ledger, payments
from billingd.services.audit import record_audit
from billingd.services.billing_items import (
    BillableItems,
    DraftLine,
    client_ids_of,
    collect_items,
    default_tax_rate,
)
from billingd.services.closed_periods import check_open
from billingd.services.context import ServiceContext
from billingd.services.lookup import get_or_refuse
from billingd.services.numbering import INVOICE, next_number
from billingd.services.parties import default_bill_group
from billingd.views import line_view, plain, tax_breakdown


@dataclass
class Draft:
    """An invoice computed but not written: what preview shows and issue persists."""

    owner: Client | Reseller
    issue_date: dt.date
    period_start: dt.date | None
    period_end: dt.date | None
    lines: list[DraftLine]
    totals: Totals
    items: BillableItems

    @property
    def due_date(self) -> dt.date:
        return self.issue_date + dt.timedelta(days=self.owner.enterprise.payment_terms)


@dataclass
class PeriodResult:
    invoice: Invoice | None = None
    preview: dict[str, Any] | None = None
    statistics: bytes | None = None


def find_owner(client_id: int | None, reseller_id: int | None) -> Client | Reseller:
    """Exactly one of client or reseller (R-INV-1)."""
    if (client_id is None) == (reseller_id is None):
        raise RuleViolation("R-INV-1", "give exactly one of client or reseller")
    if client_id is not None:
        return get_or_refuse(Client, client_id)
    return get_or_refuse(Reseller, reseller_id)


def build_draft(
    owner: Client | Reseller,
    items: BillableItems,
    issue_date: dt.date,
    period: tuple[dt.date, dt.date] | None,
) -> Draft:
    totals = compute_totals(
        [line.net for line in items.lines], [line.tax_rate for line in items.lines], owner.currency
    )
    start, end = period if period else (None, None)
    return Draft(owner, issue_date, start, end, items.lines, totals, items)


def copy_draft(invoice: Invoice, issue_date: dt.date) -> Draft:
    """The same lines and totals again, for reissuing an invoice that has no period.

    Totals are copied, not recomputed: an invoice for an amount keeps its gross
    exactly even where its tax was the remainder of the split (R-INV-5).
    """
    lines = list(invoice.lines.order_by(InvoiceLine.position))
    draft_lines = [
        DraftLine(
            kind=line.kind,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            net=line.net,
            tax_rate=line.tax_rate,
            unit=line.unit,
        )
        for line in lines
    ]
    breakdown = tuple(
        TaxGroup(Decimal(group["rate"]), Decimal(group["net"]), Decimal(group["tax"]))
        for group in tax_breakdown([line_view(line) for line in lines])
    )
    totals = Totals(
        invoice.subtotal, invoice.tax, invoice.total, breakdown, tuple(line.tax for line in lines)
    )
    owner = invoice.client or invoice.reseller
    return Draft(owner, issue_date, None, None, draft_lines, totals, BillableItems())


def draft_view(draft: Draft) -> dict[str, Any]:
    """A draft in the invoice's JSON shape (every key), with no id and no number (R-INV-4)."""
    lines = [
        {
            "kind": line.kind,
            "description": line.description,
            "quantity": str(line.quantity),
            "unit": line.unit,
            "unit_price": str(line.unit_price),
            "net": str(line.net),
            "tax_rate": str(line.tax_rate),
            "tax": str(tax),
        }
        for line, tax in zip(draft.lines, draft.totals.line_taxes, strict=True)
    ]
    owner = draft.owner
    return {
        "id": None,
        "number": None,
        "status": "preview",
        "issue_date": plain(draft.issue_date),
        "due_date": plain(draft.due_date),
        "period_start": plain(draft.period_start),
        "period_end": plain(draft.period_end),
        "currency": owner.currency,
        "subtotal": str(draft.totals.subtotal),
        "tax": str(draft.totals.tax),
        "total": str(draft.totals.total),
        "balance": str(draft.totals.total),
        "origin": None,
        "actor": None,
        "enterprise_id": owner.enterprise_id,
        "client_id": owner.id if isinstance(owner, Client) else None,
        "reseller_id": owner.id if isinstance(owner, Reseller) else None,
        "replaces": None,
        "lines": lines,
        "tax_breakdown": tax_breakdown(lines),
    }


def seller_snapshot(owner: Client | Reseller) -> dict[str, str]:
    e = owner.enterprise
    return {
        "name": e.name,
        "address": e.address,
        "tax_id": e.tax_id,
        "registration_id": e.registration_id,
        "iban": e.iban,
        "bic": e.bic,
        "email": e.email,
    }


def bill_to_snapshot(owner: Client | Reseller) -> dict[str, str]:
    """The billing address at issue; later bill group edits do not change it (R-INV-12)."""
    address = owner.address
    if isinstance(owner, Client):
        address = default_bill_group(owner).address or address
    return {
        "name": owner.name,
        "company": owner.company,
        "address": address,
        "tax_id": owner.tax_id,
        "contract_number": getattr(owner, "contract_number", ""),
        "email": owner.email,
    }


def _write(
    ctx: ServiceContext, draft: Draft, *, origin: str, status: str, replaces: Invoice | None
) -> Invoice:
    """Write an invoice without a number, its lines and its claims on what it bills.

    The claims on cycles, usage and charges make billing them twice impossible (R-RUN-9).
    """
    owner = draft.owner
    total = draft.totals.total
    invoice = Invoice.create(
        enterprise=owner.enterprise,
        client=owner if isinstance(owner, Client) else None,
        reseller=owner if isinstance(owner, Reseller) else None,
        number=None,
        status=status,
        issue_date=draft.issue_date,
        due_date=draft.due_date,
        period_start=draft.period_start,
        period_end=draft.period_end,
        currency=owner.currency,
        subtotal=draft.totals.subtotal,
        tax=draft.totals.tax,
        total=total,
        balance=max(total, Decimal(0)),
        origin=origin,
        actor=ctx.actor,
        seller=seller_snapshot(owner),
        bill_to=bill_to_snapshot(owner),
        replaces=replaces,
    )
    for position, (line, tax) in enumerate(
        zip(draft.lines, draft.totals.line_taxes, strict=True), start=1
    ):
        InvoiceLine.create(
            invoice=invoice,
            position=position,
            kind=line.kind,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            net=line.net,
            tax_rate=line.tax_rate,
            tax=tax,
            contract=line.contract_id,
            cycle_start=line.cycle.start if line.cycle else None,
            cycle_end=line.cycle.end if line.cycle else None,
        )
        if line.reanchor and line.cycle is not None:
            Contract.update(anchor_date=line.cycle.start).where(
                Contract.id == line.contract_id
            ).execute()
        if line.cycle is not None:
            BilledCycle.create(
                contract=line.contract_id,
                cycle_start=line.cycle.start,
                cycle_end=line.cycle.end,
                invoice=invoice,
            )
    _claim(draft.items, invoice)
    return invoice


def issue(
    ctx: ServiceContext, invoice: Invoice, *, document: bool = True, stats: bool = False
) -> Invoice:
    """Number an unissued invoice and book it: ledger, audit, client credit, documents.

    Call inside a write transaction: the number is drawn in it (R-NUM-3).
    """
    owner = invoice.client or invoice.reseller
    check_open(invoice.enterprise_id, invoice.issue_date, "issue an invoice")
    invoice.number = next_number(invoice.enterprise, INVOICE, invoice.issue_date)
    invoice.status = "open" if invoice.total > 0 else "paid"
    invoice.save()
    ledger.post_entry(ledger.ISSUED, invoice.total, owner, invoice=invoice)
    record_audit(
        ctx,
        "invoice.issued",
        client_id=invoice.client_id,
        subject=invoice,
        number=invoice.number,
        total=str(invoice.total),
        origin=invoice.origin,
    )
    payments.apply_client_credit(ctx, invoice)
    if document:
        documents.render_invoice_pdf(ctx, invoice)
    if stats:
        documents.store_statistics(ctx, invoice)
    ctx.emit(
        "invoice.issued",
        {
            "id": invoice.id,
            "number": invoice.number,
            "total": str(invoice.total),
            "client_id": invoice.client_id,
        },
    )
    return invoice


def persist(
    ctx: ServiceContext,
    draft: Draft,
    *,
    origin: str,
    document: bool = True,
    stats: bool = False,
    replaces: Invoice | None = None,
) -> Invoice:
    """Write a draft as an issued invoice; call inside a write transaction."""
    invoice = _write(ctx, draft, origin=origin, status="open", replaces=replaces)
    return issue(ctx, invoice, document=document, stats=stats)


def persist_draft(ctx: ServiceContext, draft: Draft, *, origin: str) -> Invoice:
    """Write an invoice that waits for review: no number, no ledger yet (R-RUN-12)."""
    invoice = _write(ctx, draft, origin=origin, status="draft", replaces=None)
    record_audit(
        ctx,
        "invoice.drafted",
        client_id=invoice.client_id,
        subject=invoice,
        total=str(invoice.total),
    )
    ctx.emit("invoice.drafted", {"id": invoice.id, "client_id": invoice.client_id})
    return invoice


def _claim(items: BillableItems, invoice: Invoice) -> None:
    if items.usage_ids:
        UsageRecord.update(invoice=invoice).where(UsageRecord.id.in_(items.usage_ids)).execute()
    if items.charge_ids:
        PendingCharge.update(status="invoiced", invoice=invoice).where(
            PendingCharge.id.in_(items.charge_ids)
        ).execute()
    if items.override_ids:
        PriceOverride.update(status="consumed", invoice=invoice).where(
            PriceOverride.id.in_(items.override_ids)
        ).execute()


def invoice_for_period(
    ctx: ServiceContext,
    *,
    period_start: dt.date,
    period_end: dt.date,
    client_id: int | None = None,
    reseller_id: int | None = None,
    issue_date: dt.date | None = None,
    stats: bool = False,
    document: bool = True,
    preview: bool = False,
) -> PeriodResult:
    """Create (or preview) the invoice of a period for a client or reseller (R-INV-1..4)."""
    if not (stats or document or preview):
        raise RuleViolation("R-INV-1", "choose at least one of stats and document")
    if period_end < period_start:
        raise ValidationError("the period ends before it starts", field="to")
    # a preview only reads: it does not queue behind writers for the write lock
    with read_transaction() if preview else write_transaction():
        owner = find_owner(client_id, reseller_id)
        issue = issue_date or ctx.today(owner.enterprise.timezone)
        items = collect_items(owner, period_start, period_end, issue_date=issue)
        draft = build_draft(owner, items, issue, (period_start, period_end))
        if preview:
            return PeriodResult(preview=draft_view(draft))
        if not document:
            lo, hi = period_bounds(period_start, period_end, owner.enterprise.timezone)
            records = list(
                UsageRecord.select()
                .where(
                    UsageRecord.client.in_(client_ids_of(owner))
                    & (UsageRecord.occurred_at >= lo)
                    & (UsageRecord.occurred_at < hi)
                )
                .order_by(UsageRecord.occurred_at, UsageRecord.id)
            )
            return PeriodResult(statistics=documents.statistics_csv(records))
        if not draft.lines:
            raise RuleViolation("R-INV-1", f"nothing to invoice for {period_start}..{period_end}")
        invoice = persist(ctx, draft, origin="manual", document=document, stats=stats)
    return PeriodResult(invoice=invoice)


def invoice_for_amount(
    ctx: ServiceContext,
    *,
    issue_date: dt.date,
    amount: Decimal,
    client_id: int | None = None,
    reseller_id: int | None = None,
    count: int = 1,
    description: str = "Prepayment",
) -> list[Invoice]:
    """``count`` invoices of a gross ``amount`` each, consecutively numbered (R-INV-5)."""
    if amount <= 0:
        raise ValidationError("amount must be greater than zero", field="amount")
    if count < 1:
        raise ValidationError("count must be at least 1", field="count")
    if not description.strip():
        raise ValidationError("description must not be empty", field="description")
    with write_transaction():
        owner = find_owner(client_id, reseller_id)
        if has_excess_precision(amount, owner.currency):
            raise ValidationError(
                f"amount has more decimals than {owner.currency} allows", field="amount"
            )
        rate = default_tax_rate(owner)
        net, tax = split_gross(amount, rate, owner.currency)
        line = DraftLine(
            kind="amount",
            description=description.strip(),
            quantity=Decimal(1),
            unit_price=net,
            net=net,
            tax_rate=rate,
        )
        totals = Totals(net, tax, amount, (TaxGroup(rate, net, tax),), (tax,))
        invoices = [
            persist(
                ctx,
                Draft(owner, issue_date, None, None, [line], totals, BillableItems()),
                origin="amount",
            )
            for _ in range(count)
        ]
    return invoices


def list_invoices(
    *,
    client_id: int | None = None,
    reseller_id: int | None = None,
    enterprise_id: int | None = None,
    status: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[Invoice]:
    query = Invoice.select().order_by(Invoice.id.desc())
    if client_id is not None:
        query = query.where(Invoice.client == client_id)
    if reseller_id is not None:
        query = query.where(Invoice.reseller == reseller_id)
    if enterprise_id is not None:
        query = query.where(Invoice.enterprise == enterprise_id)
    if status is not None:
        query = query.where(Invoice.status == status)
    return list(query.limit(limit).offset(offset))
