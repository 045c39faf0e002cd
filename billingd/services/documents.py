"""Rendering and storing documents (R-INV-11, R-DEL-1)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path
from typing import Any

from billingd.db.models import Document, Invoice, UsageRecord
from billingd.errors import RuleViolation
from billingd.rendering import RenderContext, default_template_dirs
from billingd.services.context import ServiceContext
from billingd.views import invoice_view


def invoice_document(invoice: Invoice) -> dict[str, Any]:
    """The document a renderer receives: the invoice view plus its snapshots and brand."""
    brand = invoice.enterprise.brand
    return {
        **invoice_view(invoice),
        "kind": "invoice",
        "seller": invoice.seller,
        "bill_to": invoice.bill_to,
        "brand": {
            "name": brand.name if brand else invoice.enterprise.name,
            "accent_color": brand.accent_color if brand else "#1f6feb",
            "footer": brand.footer if brand else "",
            "logo_path": brand.logo_path if brand else None,
            "invoice_template": brand.invoice_template if brand else "invoice.tpl",
        },
    }


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "document"


def _store(ctx: ServiceContext, invoice: Invoice, fmt: str, data: bytes, suffix: str) -> Document:
    """Write a file and its Document row; the previous file of that format is kept."""
    folder = ctx.data_dir / "documents" / str(invoice.enterprise_id)
    folder.mkdir(parents=True, exist_ok=True)
    previous = Document.select().where(
        (Document.invoice == invoice) & (Document.format == fmt) & Document.current
    )
    version = (
        Document.select().where((Document.invoice == invoice) & (Document.format == fmt)).count()
    )
    stem = _safe_name(f"{invoice.number or 'draft'}-{invoice.id}")
    path = folder / (f"{stem}{suffix}" if version == 0 else f"{stem}.v{version + 1}{suffix}")
    path.write_bytes(data)
    Document.update(current=False).where(Document.id.in_([d.id for d in previous])).execute()
    return Document.create(
        invoice=invoice, format=fmt, path=str(path), sha256=hashlib.sha256(data).hexdigest()
    )


def render_invoice_pdf(ctx: ServiceContext, invoice: Invoice) -> Document:
    """Render the invoice with the PDF renderer plugin and store it."""
    if ctx.plugins is None:
        raise RuleViolation("R-DEL-1", "no renderer plugins are loaded")
    renderer = ctx.plugins.renderer("pdf")
    context = RenderContext(
        template_dirs=default_template_dirs(ctx.data_dir / "templates"),
        settings=ctx.plugins.settings_for("pdf"),
    )
    data = renderer.render(invoice_document(invoice), context)
    return _store(ctx, invoice, "pdf", data, ".pdf")


def statistics_csv(records: list[UsageRecord]) -> bytes:
    """The statistics file: every record of the period, then totals per group (R-INV-2)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["occurred_at", "destination", "destination_group", "quantity", "unit", "amount"]
    )
    totals: dict[str, list] = {}
    for r in records:
        writer.writerow(
            [
                r.occurred_at.isoformat(),
                r.destination,
                r.destination_group,
                r.quantity,
                r.unit,
                r.amount,
            ]
        )
        group = totals.setdefault(r.destination_group, [0, 0, 0])
        group[0] += 1
        group[1] += r.quantity
        group[2] += r.amount
    writer.writerow([])
    writer.writerow(["destination_group", "records", "quantity", "amount"])
    for group, (count, quantity, amount) in sorted(totals.items()):
        writer.writerow([group, count, quantity, amount])
    return out.getvalue().encode()


def store_statistics(ctx: ServiceContext, invoice: Invoice) -> Document:
    records = list(invoice.usage.order_by(UsageRecord.occurred_at, UsageRecord.id))
    return _store(ctx, invoice, "stats-csv", statistics_csv(records), ".csv")


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
