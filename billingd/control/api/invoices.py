"""Methods for invoices and their documents."""

from __future__ import annotations

import base64
from typing import Any

from billingd.control.list_params import INVOICE_PAGE
from billingd.control.params import (
    COUNT,
    Bool,
    Bound,
    Date,
    Int,
    Money,
    PositiveInt,
    Ref,
    Str,
)
from billingd.control.registry import method
from billingd.db.models import CreditNote, Invoice
from billingd.errors import NotFound, ValidationError
from billingd.services import document_queue, documents, invoice_actions, invoicing
from billingd.services.context import ServiceContext
from billingd.services.lookup import find_invoice, find_invoice_row
from billingd.views import INVOICE_COLUMNS, delivery_view, invoice_row_view, invoice_view

PERIOD_PARAMS = dict(
    client=Int(),
    reseller=Int(),
    bill_group=Int(help="only this bill group's items; default: one invoice per bill group"),
    **{"from": Date(required=True)},
    to=Date(required=True),
    date=Date(help="issue date; default today in the enterprise's timezone"),
)
DOCUMENT_FORMATS = {
    "pdf": "application/pdf",
    "stats-csv": "text/csv",
    "stats-pdf": "application/pdf",
}
"""Formats billingd stores after issue, whether or not a renderer plugin has the name."""


def _period(ctx: ServiceContext, params: dict[str, Any], **flags: bool) -> invoicing.PeriodResult:
    return invoicing.invoice_for_period(
        ctx,
        client_id=params.get("client"),
        reseller_id=params.get("reseller"),
        bill_group_id=params.get("bill_group"),
        period_start=params["from"],
        period_end=params["to"],
        issue_date=params.get("date"),
        **flags,
    )


@method(
    "invoice.preview",
    writes=False,
    result=(
        "the `Invoice` that would be issued: `id` and `number` null, status preview; nothing is "
        "written"
    ),
    **PERIOD_PARAMS,
)
def invoice_preview(ctx: ServiceContext, **params: Any) -> dict[str, Any]:
    """Calculate a period's invoice without writing anything or using a number (R-INV-4)."""
    result = _period(ctx, params, preview=True)
    assert result.preview is not None
    return result.preview


@method(
    "invoice.period",
    writes=True,
    result=(
        "the new `Invoice`; with `preview`, the `Invoice` that would be issued (`id` and `number` "
        "null, status preview, nothing written); with `stats`, `{statistics_csv}`"
    ),
    stats=Bool(default=False),
    document=Bool(default=True),
    preview=Bool(default=False),
    **PERIOD_PARAMS,
)
def invoice_period(
    ctx: ServiceContext, stats: bool, document: bool, preview: bool, **params: Any
) -> dict[str, Any]:
    """Create the invoice of a period for a client or a reseller (R-INV-1..3)."""
    result = _period(ctx, params, stats=stats, document=document, preview=preview)
    if result.preview is not None:
        return result.preview
    if result.statistics is not None:
        return {"statistics_csv": result.statistics.decode()}
    assert result.invoice is not None
    return invoice_view(result.invoice)


@method(
    "invoice.amount",
    writes=True,
    result="list of `Invoice`: the `count` invoices, consecutively numbered",
    client=Int(),
    reseller=Int(),
    date=Date(required=True),
    amount=Money(required=True),
    count=PositiveInt(default=1, bound=COUNT),
    description=Str(default="Prepayment"),
)
def invoice_amount(
    ctx: ServiceContext,
    date: Any,
    amount: Any,
    count: int,
    description: str,
    client: int | None = None,
    reseller: int | None = None,
) -> list[dict]:
    """Create invoices for a gross amount, ``count`` of them with consecutive numbers (R-INV-5)."""
    invoices = invoicing.invoice_for_amount(
        ctx,
        client_id=client,
        reseller_id=reseller,
        issue_date=date,
        amount=amount,
        count=count,
        description=description,
    )
    return [invoice_view(i) for i in invoices]


@method(
    "invoice.list",
    writes=False,
    result="list of `Invoice` without `lines` and `tax_breakdown`",
    client=Int(),
    reseller=Int(),
    enterprise=Int(),
    status=Str(),
    period=Str(help="YYYY-MM: issued in that month"),
    overdue=Bool(help="only open or partly paid invoices past their due date"),
    **INVOICE_PAGE,
)
def invoice_list(
    ctx: ServiceContext,
    limit: int,
    offset: int,
    client: int | None = None,
    reseller: int | None = None,
    enterprise: int | None = None,
    status: str | None = None,
    period: str | None = None,
    overdue: bool = False,
) -> list[dict[str, Any]]:
    """Invoices, newest first; filters: client, reseller, enterprise, status, period, overdue."""
    invoices = invoicing.list_invoices(
        ctx,
        client_id=client,
        reseller_id=reseller,
        enterprise_id=enterprise,
        status=status,
        month=period,
        overdue=overdue,
        limit=min(limit, 1000),
        offset=offset,
    )
    return [invoice_view(i, with_lines=False) for i in invoices]


@method(
    "invoice.show", writes=False, result="the `Invoice`", quick=True, invoice=Ref(required=True)
)
def invoice_show(ctx: ServiceContext, invoice: int | str) -> dict[str, Any]:
    """One invoice with its lines, by id or number."""
    return invoice_row_view(find_invoice_row(invoice, INVOICE_COLUMNS))


WAIT = Bound(0, 50, unit="seconds")
FORMAT_HELP = (
    "pdf, stats-csv or stats-pdf (rendered after issue), or the name of a loaded renderer "
    "plugin such as facturx, xrechnung or ubl (stored when the invoice's formats include it, "
    "else rendered on request)"
)
WAIT_HELP = "how long to wait for a document still queued or rendering"


def document_reply(
    ctx: ServiceContext, owner: Invoice | CreditNote, fmt: str, wait: int
) -> dict[str, Any]:
    """An invoice's or credit note's document in a format, base64-encoded: the stored
    one (waiting up to ``wait`` seconds for it to be rendered), else one a renderer
    plugin makes now."""
    renderers = ctx.plugins.renderers() if ctx.plugins else {}
    if fmt not in DOCUMENT_FORMATS and fmt not in renderers:
        known = ", ".join(sorted({*DOCUMENT_FORMATS, *renderers}))
        raise ValidationError(
            f"format must be one of {known}; {fmt!r} needs a renderer plugin of that name "
            "(e-invoice formats such as facturx and ubl come from plugins)",
            field="format",
        )
    kind = "invoice" if isinstance(owner, Invoice) else "credit note"
    data = document_queue.fetch(owner, fmt, wait)
    if data is None and fmt in DOCUMENT_FORMATS:
        raise NotFound(f"{kind} {owner.number} has no {fmt} document", format=fmt)
    if data is None:
        data = documents.render_as(ctx, owner, fmt)
    media_type = DOCUMENT_FORMATS[fmt] if fmt in DOCUMENT_FORMATS else renderers[fmt].media_type
    return {
        "format": fmt,
        "media_type": media_type,
        "content_base64": base64.b64encode(data).decode(),
    }


@method(
    "invoice.pdf",
    writes=False,
    result="`{invoice_id, number, format, media_type, content_base64}`: the document",
    invoice=Ref(required=True),
    format=Str(default="pdf", help=FORMAT_HELP),
    wait=Int(default=30, bound=WAIT, help=WAIT_HELP),
)
def invoice_pdf(ctx: ServiceContext, invoice: int | str, format: str, wait: int) -> dict[str, Any]:
    """An invoice's document, base64-encoded: a stored one, or one a renderer plugin makes."""
    row = find_invoice(invoice)
    return {"invoice_id": row.id, "number": row.number, **document_reply(ctx, row, format, wait)}


@method(
    "invoice.void",
    writes=True,
    result="the `Invoice` (status void)",
    invoice=Ref(required=True),
    reason=Str(default=""),
)
def invoice_void(ctx: ServiceContext, invoice: Any, reason: str) -> dict[str, Any]:
    """Void an invoice without payments or credit notes; it keeps its number (R-INV-8)."""
    return invoice_view(invoice_actions.void_invoice(ctx, invoice, reason))


@method(
    "invoice.reissue",
    writes=True,
    result="the new `Invoice` (its `replaces` is the voided one)",
    invoice=Ref(required=True),
    reason=Str(default=""),
)
def invoice_reissue(ctx: ServiceContext, invoice: Any, reason: str) -> dict[str, Any]:
    """Void an invoice and regenerate its period from current data (R-INV-9)."""
    return invoice_view(invoice_actions.reissue_invoice(ctx, invoice, reason))


@method("invoice.send", writes=True, result="the queued `Delivery`", invoice=Ref(required=True))
def invoice_send(ctx: ServiceContext, invoice: Any) -> dict[str, Any]:
    """Queue the invoice for email to the client's billing address (R-INV-10)."""
    return delivery_view(invoice_actions.send_invoice(ctx, invoice))


@method(
    "invoice.edit_address",
    writes=True,
    result="the `Invoice` with the new address (its document re-rendered)",
    invoice=Ref(required=True),
    address=Str(required=True),
)
def invoice_edit_address(ctx: ServiceContext, invoice: Any, address: str) -> dict[str, Any]:
    """Change the billing address on an issued invoice and re-render it (R-INV-12)."""
    return invoice_view(invoice_actions.edit_address(ctx, invoice, address))
