"""Invoices: for a period, for an amount, preview, issue (R-INV-1..7, R-NUM-3)."""

from __future__ import annotations

import datetime as dt
import functools
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import peewee

from billingd.db.connection import read_transaction, write_transaction
from billingd.db.models import (
    BilledCycle,
    BillGroup,
    Client,
    Enterprise,
    Invoice,
    InvoiceLine,
    PendingCharge,
    PriceOverride,
    Reseller,
    UsageRecord,
)
from billingd.db.prepared import (
    PreparedInsert,
    PreparedUpdate,
    PreparedWrite,
    Slot,
    id_slots,
    id_values,
)
from billingd.domain.bounds import first_of_month
from billingd.domain.totals import TaxGroup, Totals, compute_totals, split_gross
from billingd.domain.vat import treat
from billingd.errors import RuleViolation, ValidationError
from billingd.money import has_excess_precision
from billingd.services import (
    document_queue,
    documents,
    ledger,
    notifications,
    payments,
    uploads,
)
from billingd.services.audit import record_audit
from billingd.services.billing_items import (
    BillableItems,
    DraftLine,
    collect_items,
    default_tax_rate,
    vat_parties,
    with_vat,
)
from billingd.services.closed_periods import check_open
from billingd.services.context import ServiceContext
from billingd.services.lookup import get_or_refuse
from billingd.services.numbering import INVOICE, next_number
from billingd.services.parties import default_bill_group
from billingd.services.statistics import period_statistics_csv
from billingd.services.usage_sums import claim_sums
from billingd.views import invoice_view, line_view, plain, tax_breakdown


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
    billing_date: dt.date | None = None  # the scheduled date it is due for (R-NUM-6)
    bill_group: BillGroup | None = None  # R-RUN-17; None: the client's default group

    @property
    def due_date(self) -> dt.date:
        return self.issue_date + dt.timedelta(days=self.owner.enterprise.payment_terms)


class ClaimConflict(Exception):
    """An item the invoice bills was billed by another invoice first (R-RUN-9)."""


@dataclass
class PeriodResult:
    invoice: Invoice | None = None
    invoices: list[Invoice] = field(default_factory=list)
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
    items.lines = with_vat(items.lines, vat_parties(owner))
    totals = line_totals(items.lines, owner.currency)
    start, end = period if period else (None, None)
    return Draft(owner, issue_date, start, end, items.lines, totals, items)


def line_totals(lines: list[DraftLine], currency: str) -> Totals:
    """Totals of lines whose VAT category is decided."""
    return compute_totals(
        [line.net for line in lines],
        [line.tax_rate for line in lines],
        currency,
        [line.tax_category for line in lines],
    )


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
            tax_category=line.tax_category,
            exemption_reason=line.exemption_reason,
        )
        for line in lines
    ]
    breakdown = tuple(
        TaxGroup(
            Decimal(group["rate"]), Decimal(group["net"]), Decimal(group["tax"]), group["category"]
        )
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
            "tax_category": line.tax_category,
            "exemption_reason": line.exemption_reason,
        }
        for line, tax in zip(draft.lines, draft.totals.line_taxes, strict=True)
    ]
    owner = draft.owner
    group = bill_group_of(draft)
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
        "dispute": "",
        "dunning_paused": False,
        "enterprise_id": owner.enterprise_id,
        "client_id": owner.id if isinstance(owner, Client) else None,
        "reseller_id": owner.id if isinstance(owner, Reseller) else None,
        "replaces": None,
        "billing_date": plain(draft.billing_date),
        "bill_group_id": group.id if group is not None else None,
        "bill_to": bill_to_snapshot(owner, group),
        "document": None,
        "lines": lines,
        "tax_breakdown": tax_breakdown(lines),
        "deliveries": [],
    }


def bill_group_of(draft: Draft) -> BillGroup | None:
    """The draft's bill group: its own, else the client's default (R-RUN-17)."""
    if draft.bill_group is not None or not isinstance(draft.owner, Client):
        return draft.bill_group
    return default_bill_group(draft.owner)


def seller_snapshot(owner: Client | Reseller) -> dict[str, str]:
    """The seller as the documents show it, taken at issue (R-INV-12)."""
    e = owner.enterprise
    return {
        "name": e.name,
        "address": e.address,
        "postcode": e.postcode,
        "city": e.city,
        "country": e.country,
        "tax_id": e.tax_id,
        "registration_id": e.registration_id,
        "iban": e.iban,
        "bic": e.bic,
        "email": e.email,
        "phone": e.phone,
        "endpoint_id": e.endpoint_id,
        "endpoint_scheme": e.endpoint_scheme,
    }


def buyer_reference(owner: Client | Reseller, group: BillGroup | None) -> str:
    """BT-10: the bill group's ``buyer_reference`` or ``leitweg_id`` custom field (the
    Leitweg-ID of German public buyers), else the client's contract number, else its
    name (Peppol asks for a buyer reference on every invoice)."""
    fields = group.custom_fields if group is not None else {}
    for key in ("buyer_reference", "leitweg_id"):
        if str(fields.get(key) or "").strip():
            return str(fields[key]).strip()
    return getattr(owner, "contract_number", "") or owner.name


def bill_to_snapshot(owner: Client | Reseller, group: BillGroup | None) -> dict[str, Any]:
    """The billing address and recipients at issue, from the invoice's bill group; later
    bill group edits do not change it (R-INV-12, R-RUN-17)."""
    address, emails = owner.address, owner.email
    place = {"postcode": owner.postcode, "city": owner.city, "country": owner.country}
    if group is not None:
        address = group.address or address
        emails = group.emails or emails
        if group.country or group.city:  # the group's own address, all of it
            place = {"postcode": group.postcode, "city": group.city, "country": group.country}
    return {
        "name": owner.name,
        "company": owner.company,
        "address": address,
        **place,
        "tax_id": owner.tax_id,
        "contract_number": getattr(owner, "contract_number", ""),
        "email": emails,
        "bill_group": group.name if group is not None else "",
        "buyer_reference": buyer_reference(owner, group),
        "endpoint_id": owner.endpoint_id,
        "endpoint_scheme": owner.endpoint_scheme,
        "custom_fields": dict(group.custom_fields) if group is not None else {},
    }


INSERT_INVOICE = PreparedInsert(Invoice)
INSERT_LINE = PreparedInsert(InvoiceLine)
INSERT_BILLED_CYCLE = PreparedInsert(BilledCycle)
NUMBER_INVOICE = PreparedUpdate(Invoice, Invoice.number, Invoice.status)


def _write(
    ctx: ServiceContext, draft: Draft, *, origin: str, status: str, replaces: Invoice | None
) -> Invoice:
    """Write an invoice without a number, its lines and its claims on what it bills.

    The claims on cycles, usage and charges make billing them twice impossible (R-RUN-9).
    """
    owner = draft.owner
    total = draft.totals.total
    group = bill_group_of(draft)
    invoice = Invoice(
        enterprise=owner.enterprise,
        client=owner if isinstance(owner, Client) else None,
        reseller=owner if isinstance(owner, Reseller) else None,
        number=None,
        status=status,
        issue_date=draft.issue_date,
        due_date=draft.due_date,
        period_start=draft.period_start,
        period_end=draft.period_end,
        billing_date=draft.billing_date,
        bill_group=group,
        currency=owner.currency,
        subtotal=draft.totals.subtotal,
        tax=draft.totals.tax,
        total=total,
        balance=max(total, Decimal(0)),
        origin=origin,
        actor=ctx.actor,
        seller=seller_snapshot(owner),
        bill_to=bill_to_snapshot(owner, group),
        replaces=replaces,
    )
    INSERT_INVOICE.save(invoice)
    lines, claims = [], []
    for position, (line, tax) in enumerate(
        zip(draft.lines, draft.totals.line_taxes, strict=True), start=1
    ):
        lines.append(
            dict(
                invoice=invoice.id,
                position=position,
                kind=line.kind,
                description=line.description,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                net=line.net,
                tax_rate=line.tax_rate,
                tax=tax,
                tax_category=line.tax_category,
                exemption_reason=line.exemption_reason,
                contract=line.contract_id,
                cycle_start=line.cycle.start if line.cycle else None,
                cycle_end=line.cycle.end if line.cycle else None,
            )
        )
        if line.cycle is not None:
            claims.append(
                dict(
                    contract=line.contract_id,
                    cycle_start=line.cycle.start,
                    cycle_end=line.cycle.end,
                    invoice=invoice.id,
                )
            )
    INSERT_LINE.many(lines)
    INSERT_BILLED_CYCLE.many(claims)  # unique: a cycle billed twice fails here (R-RUN-9)
    _claim(draft.items, invoice)
    return invoice


def issue(
    ctx: ServiceContext, invoice: Invoice, *, document: bool = True, stats: bool = False
) -> Invoice:
    """Number an unissued invoice and book it: ledger, audit, client credit; its documents
    are queued, to be rendered after the commit (:mod:`billingd.services.document_queue`).

    Call inside a write transaction: the number is drawn in it (R-NUM-3).
    """
    owner = invoice.client or invoice.reseller
    check_open(invoice.enterprise_id, invoice.issue_date, "issue an invoice")
    invoice.number = next_number(invoice.enterprise, INVOICE, invoice.issue_date)
    invoice.status = "open" if invoice.total > 0 else "paid"
    if {f.name for f in invoice.dirty_fields} <= {"number", "status"}:
        NUMBER_INVOICE.save(invoice)  # the usual case: a new invoice, numbered
    else:  # e.g. a draft approved with a new issue date (R-RUN-12)
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
    ctx.emit(
        "invoice.issued",
        {
            "id": invoice.id,
            "number": invoice.number,
            "total": str(invoice.total),
            "client_id": invoice.client_id,
        },
    )
    notifications.notify(
        ctx, "invoice.issued", lambda: invoice_view(invoice), client=invoice.client_id,
        invoice=invoice,
    )  # fmt: skip
    formats = documents.formats_for(invoice) if document else []
    if stats:
        formats.append("stats-csv")
    job = None
    if formats:  # rendered after the commit (R-INV-11); its event follows the issue's
        job = document_queue.enqueue(ctx, invoice, formats)
    uploads.queue_upload(ctx, invoice, job)  # to the bill group's portal (R-DEL-4)
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


def _claim_usage(column: str, count: int) -> peewee.Query:
    field = UsageRecord._meta.fields[column]
    return UsageRecord.update({field: Slot("invoice")}).where(
        UsageRecord.id.in_(id_slots(count)) & field.is_null()
    )


def _claim_charges(count: int) -> peewee.Query:
    return PendingCharge.update(status="invoiced", invoice=Slot("invoice")).where(
        PendingCharge.id.in_(id_slots(count)) & (PendingCharge.status == "pending")
    )


def _claim_overrides(count: int) -> peewee.Query:
    return PriceOverride.update(status="consumed", invoice=Slot("invoice")).where(
        PriceOverride.id.in_(id_slots(count)) & (PriceOverride.status == "active")
    )


CLAIM_USAGE = PreparedWrite(_claim_usage)
CLAIM_CHARGES = PreparedWrite(_claim_charges)
CLAIM_OVERRIDES = PreparedWrite(_claim_overrides)


def _claim(items: BillableItems, invoice: Invoice) -> None:
    """Mark what the invoice bills as billed; an item taken already rolls it back.

    Usage is claimed per party: a reseller's invoice claims its clients' records in a
    column of its own, so client and reseller invoices never take them from each other.
    """
    column = "reseller_invoice" if invoice.reseller_id else "invoice"
    claims = (
        (UsageRecord, items.usage_ids, CLAIM_USAGE, (column,)),
        (PendingCharge, items.charge_ids, CLAIM_CHARGES, ()),
        (PriceOverride, items.override_ids, CLAIM_OVERRIDES, ()),
    )
    for model, ids, statement, variant in claims:
        for chunk in _chunks(ids):
            values = id_values(chunk)
            claimed = statement.execute((*variant, len(chunk)), invoice=invoice.id, **values)
            if claimed != len(chunk):
                raise ClaimConflict(f"a {model.__name__} of this invoice was billed already")
    if not claim_sums(items.usage_sums, invoice):
        raise ClaimConflict("usage of this invoice was billed or added meanwhile")


def _chunks(ids: list[int], size: int = 900) -> list[list[int]]:
    """Id lists small enough for one statement's parameters on every backend."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def invoice_for_period(
    ctx: ServiceContext,
    *,
    period_start: dt.date,
    period_end: dt.date,
    client_id: int | None = None,
    reseller_id: int | None = None,
    bill_group_id: int | None = None,
    issue_date: dt.date | None = None,
    stats: bool = False,
    document: bool = True,
    preview: bool = False,
) -> PeriodResult:
    """Create (or preview) the invoices of a period for a client or reseller (R-INV-1..4).

    A client's items are invoiced per bill group (R-RUN-17): one invoice for each group
    with something to bill, or only ``bill_group_id``'s. The result names the first;
    ``invoices`` lists them all.
    """
    if not (stats or document or preview):
        raise RuleViolation("R-INV-1", "choose at least one of stats and document")
    if period_end < period_start:
        raise ValidationError("the period ends before it starts", field="to")
    # a preview only reads: it does not queue behind writers for the write lock
    with read_transaction() if preview else write_transaction():
        owner = find_owner(client_id, reseller_id)
        issue = issue_date or ctx.today(owner.enterprise.timezone)
        if not document and not preview:
            return PeriodResult(statistics=period_statistics_csv(owner, period_start, period_end))
        drafts = []
        for group in bill_groups_to_invoice(owner, bill_group_id):
            items = collect_items(owner, period_start, period_end, group.id if group else None)
            draft = build_draft(owner, items, issue, (period_start, period_end))
            draft.bill_group = group
            if draft.lines:
                drafts.append(draft)
        if preview:
            shown = (
                drafts[0]
                if drafts
                else build_draft(owner, BillableItems(), issue, (period_start, period_end))
            )
            return PeriodResult(preview=draft_view(shown))
        if not drafts:
            raise RuleViolation("R-INV-1", f"nothing to invoice for {period_start}..{period_end}")
        invoices = [
            persist(ctx, draft, origin="manual", document=document, stats=stats) for draft in drafts
        ]
    return PeriodResult(invoice=invoices[0], invoices=invoices)


def bill_groups_to_invoice(
    owner: Client | Reseller, bill_group_id: int | None
) -> list[BillGroup | None]:
    """A client's bill groups, the default first, or the one asked for; a reseller: none."""
    if isinstance(owner, Reseller):
        if bill_group_id is not None:
            raise ValidationError("a reseller has no bill groups", field="bill_group")
        return [None]
    groups = list(
        BillGroup.select()
        .where(BillGroup.client == owner)
        .order_by(BillGroup.is_default.desc(), BillGroup.id)
    )
    if bill_group_id is None:
        return groups
    chosen = [g for g in groups if g.id == bill_group_id]
    if not chosen:
        raise ValidationError(
            f"bill group {bill_group_id} is not one of client {owner.id}'s", field="bill_group"
        )
    return chosen


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
        vat = treat(vat_parties(owner), default_tax_rate(owner))
        net, tax = split_gross(amount, vat.rate, owner.currency)
        line = DraftLine(
            kind="amount",
            description=description.strip(),
            quantity=Decimal(1),
            unit_price=net,
            net=net,
            tax_rate=vat.rate,
            tax_category=vat.category,
            exemption_reason=vat.reason,
        )
        totals = Totals(net, tax, amount, (TaxGroup(vat.rate, net, tax, vat.category),), (tax,))
        invoices = [
            persist(
                ctx,
                Draft(owner, issue_date, None, None, [line], totals, BillableItems()),
                origin="amount",
            )
            for _ in range(count)
        ]
    return invoices


OVERDUE_STATUSES = ("open", "partial")
"""The statuses an invoice is overdue in once its due date has passed."""


def list_invoices(
    ctx: ServiceContext,
    *,
    client_id: int | None = None,
    reseller_id: int | None = None,
    enterprise_id: int | None = None,
    status: str | None = None,
    month: str | None = None,
    overdue: bool = False,
    limit: int = 200,
    offset: int = 0,
) -> list[Invoice]:
    """Invoices, newest first. ``month`` (``YYYY-MM``): issued in that month; ``overdue``:
    open or partly paid after their due date, on each enterprise's day of the clock."""
    query = Invoice.select().order_by(Invoice.id.desc())
    if client_id is not None:
        query = query.where(Invoice.client == client_id)
    if reseller_id is not None:
        query = query.where(Invoice.reseller == reseller_id)
    if enterprise_id is not None:
        query = query.where(Invoice.enterprise == enterprise_id)
    if status is not None:
        query = query.where(Invoice.status == status)
    if month is not None:
        first = first_of_month(month, "period")
        after = (first + dt.timedelta(days=31)).replace(day=1)
        query = query.where((Invoice.issue_date >= first) & (Invoice.issue_date < after))
    with read_transaction():
        if overdue:
            enterprises = Enterprise.select(Enterprise.id, Enterprise.timezone)
            past_due = [
                (Invoice.enterprise == e.id) & (Invoice.due_date < ctx.today(e.timezone))
                for e in enterprises
            ]
            query = query.where(
                Invoice.status.in_(OVERDUE_STATUSES)
                & functools.reduce(operator.or_, past_due, Invoice.id.is_null())
            )
        return list(query.limit(limit).offset(offset))
