"""Rendering and storing documents (R-INV-11, R-DEL-1)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from billingd.db.connection import on_rollback
from billingd.db.models import CreditNote, Document, Invoice
from billingd.errors import RuleViolation
from billingd.rendering import RenderContext, default_template_dirs
from billingd.services import statistics
from billingd.services.context import ServiceContext
from billingd.views import document_brand, invoice_view


def invoice_document(invoice: Invoice) -> dict[str, Any]:
    """The document a renderer receives: the invoice view plus its snapshots and brand."""
    return {
        **invoice_view(invoice),
        "kind": "invoice",
        "seller": invoice.seller,
        "bill_to": invoice.bill_to,
        "brand": document_brand(invoice.enterprise),
    }


FILE_SUFFIXES = {"pdf": ".pdf", "stats-csv": ".csv"}


def _stem(number: str | None, row_id: int) -> str:
    """A file name stem from a document number, safe for any pattern."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", number or "draft").strip("_") or "document"
    return f"{safe}-{row_id}"


def _store(
    ctx: ServiceContext,
    enterprise_id: int,
    stem: str,
    fmt: str,
    data: bytes,
    *,
    invoice: Invoice | None = None,
    credit_note: CreditNote | None = None,
) -> Document:
    """Write a file and its Document row; the previous file of that format is kept."""
    folder = ctx.data_dir / "documents" / str(enterprise_id)
    folder.mkdir(parents=True, exist_ok=True)
    owner = (Document.invoice == invoice) if invoice else (Document.credit_note == credit_note)
    same = Document.select().where(owner & (Document.format == fmt))
    version = same.count()
    suffix = FILE_SUFFIXES[fmt]
    path = folder / (f"{stem}{suffix}" if version == 0 else f"{stem}.v{version + 1}{suffix}")
    path.write_bytes(data)
    on_rollback(path.unlink)
    Document.update(current=False).where(Document.id.in_([d.id for d in same])).execute()
    return Document.create(
        invoice=invoice,
        credit_note=credit_note,
        format=fmt,
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _render(ctx: ServiceContext, renderer_name: str, document: dict[str, Any]) -> bytes:
    if ctx.plugins is None:
        raise RuleViolation("R-DEL-1", "no renderer plugins are loaded")
    context = RenderContext(
        template_dirs=default_template_dirs(ctx.data_dir / "templates"),
        settings=ctx.plugins.settings_for(renderer_name),
    )
    return ctx.plugins.renderer(renderer_name).render(document, context)


def render_invoice_as(ctx: ServiceContext, invoice: Invoice, renderer_name: str) -> bytes:
    """The invoice rendered by a renderer plugin (e.g. a Factur-X or UBL one), not stored."""
    return _render(ctx, renderer_name, invoice_document(invoice))


def render_invoice_pdf(ctx: ServiceContext, invoice: Invoice) -> Document:
    """Render the invoice with the PDF renderer plugin and store it."""
    data = _render(ctx, "pdf", invoice_document(invoice))
    return _store(
        ctx, invoice.enterprise_id, _stem(invoice.number, invoice.id), "pdf", data, invoice=invoice
    )


def credit_note_document(note: CreditNote) -> dict[str, Any]:
    """A credit note in the document shape: one line per VAT rate it credits (R-CN-2)."""
    invoice = note.invoice
    base = invoice_document(invoice)
    lines = [
        {
            "kind": "credit",
            "description": f"Credit for invoice {invoice.number}",
            "quantity": "1",
            "unit": "",
            "unit_price": part["net"],
            "net": part["net"],
            "tax_rate": part["rate"],
            "tax": part["tax"],
        }
        for part in note.tax_breakdown or ()
    ]
    return {
        **base,
        "kind": "credit_note",
        "id": note.id,
        "number": note.number,
        "issue_date": note.issue_date.isoformat(),
        "due_date": None,
        "status": "issued",
        "subtotal": str(note.net),
        "tax": str(note.tax),
        "total": str(note.amount),
        "balance": "0",
        "credit_note_for": invoice.number,
        "reason": note.reason,
        "lines": lines,
        "tax_breakdown": note.tax_breakdown or [],
    }


def render_credit_note_pdf(ctx: ServiceContext, note: CreditNote) -> Document:
    data = _render(ctx, "pdf", credit_note_document(note))
    return _store(
        ctx, note.enterprise_id, _stem(note.number, note.id), "pdf", data, credit_note=note
    )


def store_statistics(ctx: ServiceContext, invoice: Invoice) -> Document:
    """Store the statistics file of the usage records an invoice bills (R-INV-2)."""
    return _store(
        ctx,
        invoice.enterprise_id,
        _stem(invoice.number, invoice.id),
        "stats-csv",
        statistics.invoice_statistics_csv(invoice),
        invoice=invoice,
    )


def current_document(invoice: Invoice, fmt: str) -> Document | None:
    return (
        Document.select()
        .where((Document.invoice == invoice) & (Document.format == fmt) & Document.current)
        .first()
    )


def read_document(invoice: Invoice, fmt: str) -> bytes | None:
    document = current_document(invoice, fmt)
    if document is None:
        return None
    return Path(document.path).read_bytes()
