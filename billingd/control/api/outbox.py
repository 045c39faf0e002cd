"""Methods for the outbox: the emails, uploads and notices billingd delivers (R-DEL-3..5)."""

from __future__ import annotations

from typing import Any

from billingd.control.list_params import OUTBOX_FILTERS
from billingd.control.params import PositiveInt
from billingd.control.registry import method
from billingd.services import outbox
from billingd.services.context import ServiceContext
from billingd.services.lookup import find_invoice
from billingd.views import outbox_view

MESSAGE = PositiveInt(required=True, help="the outbox message's id")


@method(
    "outbox.list",
    writes=False,
    result="list of `OutboxMessage`, newest first",
    **OUTBOX_FILTERS,
)
def outbox_list(
    ctx: ServiceContext,
    state: str | None = None,
    channel: str | None = None,
    client: int | None = None,
    invoice: int | str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """What the outbox holds, filtered: the delivery state of every email, upload and notice."""
    invoice_id = find_invoice(invoice).id if invoice is not None else None
    rows = outbox.list_messages(
        state=state, channel=channel, client_id=client, invoice_id=invoice_id, limit=limit
    )
    return [outbox_view(m) for m in rows]


@method("outbox.show", writes=False, result="the `OutboxMessage` with its payload", id=MESSAGE)
def outbox_show(ctx: ServiceContext, id: int) -> dict[str, Any]:
    """One message, with what it carries (template context, event, receipt)."""
    return outbox_view(outbox.find_message(id), with_payload=True)


@method("outbox.retry", writes=True, result="the queued `OutboxMessage`", id=MESSAGE)
def outbox_retry(ctx: ServiceContext, id: int) -> dict[str, Any]:
    """Queue a failed or cancelled message again, due now, with fresh attempts."""
    return outbox_view(outbox.retry(ctx, id))


@method("outbox.cancel", writes=True, result="the cancelled `OutboxMessage`", id=MESSAGE)
def outbox_cancel(ctx: ServiceContext, id: int) -> dict[str, Any]:
    """Stop a queued or failed message; a sent one stays sent."""
    return outbox_view(outbox.cancel(ctx, id))
