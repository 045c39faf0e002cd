"""The document a renderer receives for an invoice or a credit note (docs/documents.md).

Built from the invoice's rows and the seller and billing-address snapshots taken
at issue (R-INV-12), never from the parties as they are now. Snapshots taken
before a field existed read as empty.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billingd.db.models import CreditNote, Invoice, InvoiceLine
from billingd.domain.vat import EXEMPTION_CODES, notes_for
from billingd.views import document_brand, invoice_view, legacy_category, plain

SELLER_KEYS = (
    "name", "address", "postcode", "city", "country", "tax_id", "registration_id", "iban",
    "bic", "email", "phone", "creditor_id", "endpoint_id", "endpoint_scheme",
)  # fmt: skip
BILL_TO_KEYS = (
    "name", "company", "address", "postcode", "city", "country", "tax_id", "email",
    "contract_number", "bill_group", "buyer_reference", "endpoint_id", "endpoint_scheme",
)  # fmt: skip
LINE_COLUMNS = (
    "position", "kind", "description", "quantity", "unit", "unit_price", "net", "tax_category",
    "tax_rate", "tax", "exemption_reason", "cycle_start", "cycle_end",
)  # fmt: skip


def _snapshot(stored: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    stored = stored or {}
    out = {key: stored.get(key) or "" for key in keys}
    if "bill_group" in keys:
        out["custom_fields"] = dict(stored.get("custom_fields") or {})
    return out


def _lines(invoice: Invoice) -> list[dict[str, Any]]:
    columns = [InvoiceLine._meta.columns[name] for name in LINE_COLUMNS]
    rows = InvoiceLine.select(*columns).where(InvoiceLine.invoice == invoice)
    lines = []
    for row in rows.order_by(InvoiceLine.position).tuples():
        line = {name: plain(value) for name, value in zip(LINE_COLUMNS, row, strict=True)}
        line["tax_category"] = line["tax_category"] or legacy_category(Decimal(line["tax_rate"]))
        line["records"] = None
        lines.append(line)
    return lines


def breakdown_with_reasons(
    breakdown: list[dict[str, Any]], lines: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The VAT breakdown with each untaxed group's exemption reason and code (BT-120/121)."""
    reasons: dict[tuple[str, Decimal], str] = {}
    for line in lines:
        key = (line["tax_category"], Decimal(line["tax_rate"]).normalize())
        if line.get("exemption_reason") and key not in reasons:
            reasons[key] = line["exemption_reason"]
    return [
        {
            **group,
            "exemption_reason": reasons.get(
                (group["category"], Decimal(group["rate"]).normalize()), ""
            ),
            "exemption_code": EXEMPTION_CODES.get(group["category"], ""),
        }
        for group in breakdown
    ]


def _payment(invoice: Invoice, seller: dict[str, Any]) -> dict[str, Any]:
    """How the invoice is paid: a SEPA transfer to the seller's account where it has one."""
    days = invoice.enterprise.payment_terms
    terms = f"Payable within {days} days without deduction." if days else "Due on receipt."
    return {
        "means": "credit_transfer" if seller["iban"] else "none",
        "iban": seller["iban"],
        "bic": seller["bic"],
        "account_name": seller["name"],
        "mandate_reference": "",
        "creditor_id": seller.get("creditor_id", ""),
        "debtor_iban": "",
        "terms": terms,
    }


def _base(invoice: Invoice) -> dict[str, Any]:
    view = invoice_view(invoice)
    view.pop("document", None)  # the document's own rendering state is not part of it
    seller = _snapshot(invoice.seller, SELLER_KEYS)
    lines = _lines(invoice)
    owner = invoice.client or invoice.reseller
    return {
        **view,
        "kind": "invoice",
        "language": getattr(owner, "language", "") or "en",
        "paid": str(invoice.total - invoice.balance),
        "seller": seller,
        "bill_to": _snapshot(invoice.bill_to, BILL_TO_KEYS),
        "lines": lines,
        "tax_breakdown": breakdown_with_reasons(view["tax_breakdown"], lines),
        "payment": _payment(invoice, seller),
        "notes": notes_for(
            [line["tax_category"] for line in lines], [line["exemption_reason"] for line in lines]
        ),
        "credit_note_for": None,
        "credit_note_for_date": None,
        "reason": "",
        "brand": document_brand(invoice.enterprise),
    }


def invoice_document(invoice: Invoice) -> dict[str, Any]:
    """An issued invoice as a renderer receives it."""
    return _base(invoice)


def credit_note_document(note: CreditNote) -> dict[str, Any]:
    """A credit note: one line per VAT category and rate it credits (R-CN-2, R-VAT-1)."""
    invoice = note.invoice
    lines = []
    for position, part in enumerate(note.tax_breakdown or (), start=1):
        category = part.get("category") or legacy_category(Decimal(part["rate"]))
        lines.append(
            {
                "position": position,
                "kind": "credit",
                "description": f"Credit for invoice {invoice.number}",
                "quantity": "1",
                "unit": "",
                "unit_price": part["net"],
                "net": part["net"],
                "tax_category": category,
                "tax_rate": part["rate"],
                "tax": part["tax"],
                "exemption_reason": "",
                "cycle_start": plain(invoice.period_start),
                "cycle_end": plain(invoice.period_end),
                "records": None,
            }
        )
    reasons = {
        (line["tax_category"], Decimal(line["tax_rate"]).normalize()): line["exemption_reason"]
        for line in _lines(invoice)
    }
    for line in lines:
        line["exemption_reason"] = reasons.get(
            (line["tax_category"], Decimal(line["tax_rate"]).normalize()), ""
        )
    breakdown = [
        {
            "rate": line["tax_rate"],
            "net": line["net"],
            "tax": line["tax"],
            "category": line["tax_category"],
        }
        for line in lines
    ]
    base = _base(invoice)
    return {
        **base,
        "kind": "credit_note",
        "id": note.id,
        "number": note.number,
        "issue_date": plain(note.issue_date),
        "due_date": None,
        "status": "issued",
        "subtotal": str(note.net),
        "tax": str(note.tax),
        "total": str(note.amount),
        "balance": str(note.amount),  # BT-115: what the credit note settles
        "paid": "0",
        "lines": lines,
        "tax_breakdown": breakdown_with_reasons(breakdown, lines),
        "notes": notes_for(
            [line["tax_category"] for line in lines], [line["exemption_reason"] for line in lines]
        ),
        "payment": {**base["payment"], "means": "none"},
        "credit_note_for": invoice.number,
        "credit_note_for_date": plain(invoice.issue_date),
        "reason": note.reason,
    }
