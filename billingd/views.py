"""Rows as JSON-safe dicts with the spec's snake_case names (SPEC §9).

Money and quantities become decimal strings, dates ISO strings. The socket, the
renderers and ``billingctl --json`` all see these shapes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from billingd.db.models import (
    AuditEvent,
    BillGroup,
    Brand,
    Client,
    Contract,
    CreditNote,
    Document,
    DocumentJob,
    Enterprise,
    Invoice,
    InvoiceLine,
    OutboxMessage,
    Payment,
    Refund,
    Reseller,
    Run,
    RunError,
)
from billingd.db.prepared import PreparedSelect, Slot
from billingd.domain import party_details
from billingd.hardening import mask_secrets

JSON_NATIVE = frozenset({str, int, bool, type(None)})


def plain(value: Any) -> Any:
    """A JSON-safe form of one value."""
    if type(value) in JSON_NATIVE:  # most values, answered first: listings call this a lot
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _fields(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: plain(getattr(row, name)) for name in names}


BRAND_FIELDS = (
    "id", "name", "logo_path", "accent_color", "footer", "layout", "invoice_template",
    "credit_note_template", "reminder_template",
)  # fmt: skip
ENTERPRISE_FIELDS = (
    "id", "name", "address", "tax_id", "registration_id", "iban", "bic", "email", "currency",
    "timezone", "payment_terms", "tax_rate", "invoice_pattern", "invoice_start",
    "invoice_reset", "credit_note_pattern", "credit_note_start", "credit_note_reset",
    *party_details.ENTERPRISE_FIELDS,
)  # fmt: skip
RESELLER_FIELDS = (
    "id", "name", "company", "tax_id", "email", "address", "currency", "tax_rate", "status",
    "invoice_days", *party_details.PARTY_FIELDS,
)  # fmt: skip
CLIENT_FIELDS = (
    "id", "name", "contract_number", "company", "tax_id", "business_type", "category_type",
    "invoice_days", "send_stats", "send_email", "publish", "email", "address", "currency",
    "tax_rate", "status", *party_details.PARTY_FIELDS,
)  # fmt: skip
BILL_GROUP_FIELDS = (
    "id", "name", "address", "invoicing", "status", "custom_fields", "uploader", "emails",
    "review_days", "is_default", *party_details.BILL_GROUP_FIELDS,
)  # fmt: skip
CONTRACT_FIELDS = (
    "id", "description", "unit_price", "quantity", "tax_rate", "cycle", "interval",
    "anchor_date", "start_date", "end_date", "status", "timing", "origin", "payment_method",
    *party_details.CONTRACT_FIELDS,
)  # fmt: skip
INVOICE_FIELDS = (
    "id", "number", "status", "issue_date", "due_date", "period_start", "period_end",
    "currency", "subtotal", "tax", "total", "balance", "origin", "actor", "dispute",
    "dunning_paused",
)  # fmt: skip
LINE_FIELDS = (
    "kind", "description", "quantity", "unit", "unit_price", "net", "tax_rate", "tax",
    "tax_category", "exemption_reason",
)  # fmt: skip
TAX_BREAKDOWN_FIELDS = ("rate", "net", "tax", "category")
PAYMENT_FIELDS = (
    "id", "amount", "currency", "method", "reference", "notes", "unallocated", "client_id",
    "received_at", "refunded",
)  # fmt: skip
REFUND_FIELDS = (
    "id", "payment_id", "amount", "currency", "reason", "method", "status", "actor",
    "created_at",
)  # fmt: skip
CREDIT_NOTE_FIELDS = (
    "id", "number", "amount", "currency", "reason", "issue_date", "actor", "invoice_id", "net",
    "tax",
)  # fmt: skip
AUDIT_FIELDS = (
    "id", "created_at", "event", "actor", "client_id", "subject_type", "subject_id", "details",
)  # fmt: skip
CHARGE_FIELDS = (
    "id", "description", "amount", "schedule_date", "notes", "status", "client_id",
    "contract_id", "invoice_id",
)  # fmt: skip
DELIVERY_FIELDS = (
    "id", "channel", "recipient", "status", "attempts", "created_at", "invoice_id",
    "last_error", "sent_at",
)  # fmt: skip
OUTBOX_FIELDS = (
    "id", "channel", "kind", "event", "target", "state", "attempts", "last_error",
    "recipients", "subject", "message_id", "client_id", "invoice_id", "credit_note_id",
    "delivery_id", "next_attempt_at", "created_at", "sent_at", "to",
)  # fmt: skip
RUN_FIELDS = (
    "id", "as_of", "client_id", "dry_run", "trigger", "actor", "status", "started_at",
    "finished_at", "total", "done", "invoices", "documents", "emails", "charges", "failures",
    "parked", "clients",
)  # fmt: skip

# The hot reads (client.list, invoice.show) fetch just the columns their view shows, as
# tuples, with SQL compiled once: no model objects are built. ``*_COLUMNS`` are model
# attribute (= column) names, ``*_KEYS`` the view's names in the same order.
CLIENT_COLUMNS = (*CLIENT_FIELDS, "enterprise_id", "reseller_id")
INVOICE_COLUMNS = (
    *INVOICE_FIELDS, "enterprise_id", "client_id", "reseller_id", "replaces_id", "billing_date",
    "bill_group_id", "bill_to",
)  # fmt: skip
INVOICE_KEYS = (
    *INVOICE_FIELDS, "enterprise_id", "client_id", "reseller_id", "replaces", "billing_date",
    "bill_group_id", "bill_to",
)  # fmt: skip
INVOICE_LINES = PreparedSelect(
    lambda: (
        InvoiceLine.select(*(InvoiceLine._meta.columns[name] for name in LINE_FIELDS))
        .where(InvoiceLine.invoice == Slot("invoice"))
        .order_by(InvoiceLine.position)
    )
)
INVOICE_DELIVERY_FIELDS = (
    "id", "channel", "kind", "target", "recipients", "state", "attempts", "last_error",
    "sent_at",
)  # fmt: skip
"""An invoice's deliveries (``invoice show``): its outbox messages — emails, portal
uploads (R-DEL-4), notices — and how each stands."""
INVOICE_DELIVERIES = PreparedSelect(
    lambda: (
        OutboxMessage.select(
            *(OutboxMessage._meta.columns[name] for name in INVOICE_DELIVERY_FIELDS)
        )
        .where(OutboxMessage.invoice == Slot("invoice"))
        .order_by(OutboxMessage.id)
    )
)


LATEST_DOCUMENT_JOB = PreparedSelect(
    lambda column: (
        DocumentJob.select(DocumentJob.state)
        .where(getattr(DocumentJob, column) == Slot("owner"))
        .order_by(DocumentJob.version.desc())
        .limit(1)
    )
)
DOCUMENT_STATES = {
    "pending": "pending",
    "rendering": "pending",
    "ready": "ready",
    "failed": "failed",
}


def document_state(column: str, owner_id: int) -> str | None:
    """An invoice's (``column`` "invoice") or credit note's ("credit_note") document:
    pending | ready | failed, as its newest version stands; None when it has none."""
    job = LATEST_DOCUMENT_JOB.first((column,), owner=owner_id)
    if job is not None:
        return DOCUMENT_STATES[job[0]]
    # rendered before the document queue existed
    stored = Document.select().where(getattr(Document, column) == owner_id).exists()
    return "ready" if stored else None


def _keyed(keys: tuple[str, ...], values: Any) -> dict[str, Any]:
    native = JSON_NATIVE  # (checked inline: listings call this for every cell)
    return {
        name: value if type(value) in native else plain(value)
        for name, value in zip(keys, values, strict=True)
    }


def brand_view(b: Brand) -> dict[str, Any]:
    return _fields(b, BRAND_FIELDS)


def document_brand(enterprise: Enterprise) -> dict[str, Any]:
    """The ``brand`` of a document (docs/documents.md): the enterprise's brand without its
    id, or the defaults under the enterprise's name when it has none."""
    return _fields(enterprise.brand or Brand(name=enterprise.name), BRAND_FIELDS[1:])


def enterprise_view(e: Enterprise) -> dict[str, Any]:
    return {**_fields(e, ENTERPRISE_FIELDS), "brand": e.brand.name if e.brand else None}


def reseller_view(r: Reseller) -> dict[str, Any]:
    return {**_fields(r, RESELLER_FIELDS), "enterprise_id": r.enterprise_id}


def client_view(c: Client) -> dict[str, Any]:
    return _fields(c, CLIENT_COLUMNS)


def client_row_view(row: tuple[Any, ...]) -> dict[str, Any]:
    """:func:`client_view` of a row of ``CLIENT_COLUMNS``."""
    return _keyed(CLIENT_COLUMNS, row)


def bill_group_view(g: BillGroup) -> dict[str, Any]:
    return {**_fields(g, BILL_GROUP_FIELDS), "client_id": g.client_id}


def contract_view(c: Contract) -> dict[str, Any]:
    return {
        **_fields(c, CONTRACT_FIELDS),
        "client_id": c.client_id,
        "reseller_id": c.reseller_id,
        "bill_group_id": c.bill_group_id,
        "price": str(c.unit_price),
    }


def line_view(line: InvoiceLine) -> dict[str, Any]:
    return _fields(line, LINE_FIELDS)


def tax_breakdown(lines: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Σ nets and Σ taxes per VAT category and rate, from lines whose taxes were allocated
    exactly (R-VAT-1)."""
    groups: dict[tuple[Decimal, str], list[Decimal]] = {}
    for line in lines:
        rate = Decimal(line["tax_rate"]).normalize()
        key = (rate, line.get("tax_category") or legacy_category(rate))
        net_tax = groups.setdefault(key, [Decimal(0)] * 2)
        net_tax[0] += Decimal(line["net"])
        net_tax[1] += Decimal(line["tax"])
    return [
        {"rate": format(rate, "f"), "net": str(net), "tax": str(tax), "category": category}
        for (rate, category), (net, tax) in sorted(groups.items())  # "10", never "1E+1"
    ]


def legacy_category(rate: Decimal) -> str:
    """The category of a line or credit part stored before categories existed."""
    return "S" if rate > 0 else "Z"


def invoice_view(inv: Invoice, *, with_lines: bool = True) -> dict[str, Any]:
    return invoice_row_view(
        tuple(getattr(inv, name) for name in INVOICE_COLUMNS), with_lines=with_lines
    )


def invoice_row_view(row: tuple[Any, ...], *, with_lines: bool = True) -> dict[str, Any]:
    """:func:`invoice_view` of a row of ``INVOICE_COLUMNS``."""
    view = _keyed(INVOICE_KEYS, row)
    view["document"] = document_state("invoice", view["id"])
    if with_lines:
        lines = [_keyed(LINE_FIELDS, line) for line in INVOICE_LINES.tuples(invoice=view["id"])]
        view["lines"] = lines
        view["tax_breakdown"] = tax_breakdown(lines)
        view["deliveries"] = [
            mask_secrets(_keyed(INVOICE_DELIVERY_FIELDS, row))
            for row in INVOICE_DELIVERIES.tuples(invoice=view["id"])
        ]
    return view


def payment_view(p: Payment) -> dict[str, Any]:
    return {
        **_fields(p, PAYMENT_FIELDS),
        "allocations": [
            {"invoice_id": a.invoice_id, "amount": str(a.amount)} for a in p.allocations
        ],
        "refunds": [refund_view(r) for r in p.refunds.order_by(Refund.id)],
    }


def refund_view(r: Refund) -> dict[str, Any]:
    """A refund of a payment (``payment refund``): pending | succeeded | failed."""
    return _fields(r, REFUND_FIELDS)


def credit_note_view(cn: CreditNote) -> dict[str, Any]:
    """A credit note with its net, tax and their split per VAT rate (R-CN-2)."""
    breakdown = [  # stored with sorted keys: back in the view's order
        {
            **{name: part[name] for name in TAX_BREAKDOWN_FIELDS if name != "category"},
            "category": part.get("category") or legacy_category(Decimal(part["rate"])),
        }
        for part in cn.tax_breakdown or ()
    ]
    return {
        **_fields(cn, CREDIT_NOTE_FIELDS),
        "tax_breakdown": breakdown,
        "document": document_state("credit_note", cn.id),
    }


def audit_view(a: AuditEvent) -> dict[str, Any]:
    return _fields(a, AUDIT_FIELDS)


def charge_view(c: Any) -> dict[str, Any]:
    return _fields(c, CHARGE_FIELDS)


def delivery_view(d: Any) -> dict[str, Any]:
    return mask_secrets(_fields(d, DELIVERY_FIELDS))


def outbox_view(m: Any, *, with_payload: bool = False) -> dict[str, Any]:
    """An outbox message (R-DEL-3): what, to whom, its state; ``payload`` on request.
    ``to`` is who receives it: the email's recipients, else the plugin it goes to.
    Secrets are masked (:func:`~billingd.hardening.mask_secrets`): what the outbox
    stores now is masked already, a row stored by an older billingd may not be."""
    view = _fields(m, OUTBOX_FIELDS[:-1])
    view["to"] = ", ".join(m.recipients) or m.target
    if with_payload:
        view["payload"] = m.payload
    return mask_secrets(view)


def run_view(run: Run) -> dict[str, Any]:
    """A run with its figures and the errors of the clients that failed (R-RUN-10, R-RUN-11)."""
    view = _fields(run, RUN_FIELDS)
    view["errors"] = [
        {"client_id": e.client_id, "message": e.message} for e in run.errors.order_by(RunError.id)
    ]
    return view


DUNNING_PLAN_FIELDS = ("enterprise_id", "charge_mode", "steps", "actor", "updated_at")
DUNNING_NOTICE_FIELDS = (
    "id", "invoice_id", "step", "name", "notice_date", "days_overdue", "balance", "fee",
    "interest", "charge_id", "fee_invoice_id", "actor", "created_at",
)  # fmt: skip
DUNNING_STATE_FIELDS = (
    "invoice_id", "number", "client_id", "enterprise_id", "status", "currency", "due_date",
    "balance", "days_overdue", "state", "last_step", "last_step_name", "last_notice_date",
    "next_step", "next_step_name", "next_step_date", "paused", "disputed", "dispute",
    "payment_pending", "notices",
)  # fmt: skip
"""The dunning objects (R-DUN-1), made by billingd.services.dunning."""


OBJECTS: dict[str, tuple[str, ...]] = {
    "Brand": BRAND_FIELDS,
    "Enterprise": (*ENTERPRISE_FIELDS, "brand"),
    "Reseller": (*RESELLER_FIELDS, "enterprise_id"),
    "Client": CLIENT_COLUMNS,
    "BillGroup": (*BILL_GROUP_FIELDS, "client_id"),
    "Contract": (*CONTRACT_FIELDS, "client_id", "reseller_id", "bill_group_id", "price"),
    "Invoice": (*INVOICE_KEYS, "document", "lines", "tax_breakdown", "deliveries"),
    "InvoiceDelivery": INVOICE_DELIVERY_FIELDS,
    "InvoiceLine": LINE_FIELDS,
    "TaxBreakdown": TAX_BREAKDOWN_FIELDS,
    "Payment": (*PAYMENT_FIELDS, "allocations", "refunds"),
    "Refund": REFUND_FIELDS,
    "CreditNote": (*CREDIT_NOTE_FIELDS, "tax_breakdown", "document"),
    "Charge": CHARGE_FIELDS,
    "Delivery": DELIVERY_FIELDS,
    "OutboxMessage": OUTBOX_FIELDS,
    "AuditEvent": AUDIT_FIELDS,
    "Run": (*RUN_FIELDS, "errors"),
    "DunningPlan": DUNNING_PLAN_FIELDS,
    "DunningNotice": DUNNING_NOTICE_FIELDS,
    "DunningState": DUNNING_STATE_FIELDS,
}
"""The protocol's objects by name, with their keys: docs/protocol.md lists them and names
them in each method's result; a test checks every view returns exactly these keys."""
