"""Billing events for the notifier plugins (R-DEL-5), queued in the causing transaction.

:func:`notify` is called beside ``ctx.emit`` where something a person or a system
should hear about happens (an invoice issued, a payment received or failed, a credit
note, a run failed, a client parked, a reminder). For each registered notifier that
:meth:`~billingd.plugins.Notifier.wants` the event, it queues an outbox message
(channel ``notify``) in the same transaction, so the notice is sent exactly when the
change committed, and after a crash still. The event carries a unique ``id``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from billingd.db.models import Client, CreditNote, Invoice, OutboxMessage
from billingd.services import outbox
from billingd.services.context import ServiceContext

log = logging.getLogger("billingd.notifications")

EVENTS = (
    "invoice.issued",
    "invoice.sent",
    "invoice.voided",
    "payment.received",
    "payment.failed",
    "payment.refunded",
    "credit_note.issued",
    "reminder.sent",
    "run.failed",
    "client.parked",
)
"""The events notifiers and webhooks are told of."""


def _wanting(ctx: ServiceContext, event: str) -> list[str]:
    if ctx.plugins is None:
        return []
    names = []
    for name, notifier in ctx.plugins.notifiers().items():
        try:
            if notifier.wants(event):
                names.append(name)
        except Exception:  # a plugin's bug never stops the billing it reports on
            log.exception("notifier %r failed in wants(%r)", name, event)
    return names


def notify(
    ctx: ServiceContext,
    event: str,
    payload: dict[str, Any] | Callable[[], dict[str, Any]],
    *,
    client: Client | int | None = None,
    invoice: Invoice | int | None = None,
    credit_note: CreditNote | int | None = None,
) -> list[OutboxMessage]:
    """Queue ``event`` for every notifier that wants it; call inside the transaction.

    ``payload`` may be a function, called only when a notifier wants the event (the
    protocol's full objects cost queries a run should not pay for nobody). The event
    is ``{"id", "name", "at", "client_id", "payload"}``.
    """
    names = _wanting(ctx, event)
    if not names:
        return []
    client_id = client.id if isinstance(client, Client) else client
    body = {
        "id": uuid.uuid4().hex,
        "name": event,
        "at": ctx.now_utc().isoformat(timespec="seconds") + "Z",
        "client_id": client_id,
        "payload": payload() if callable(payload) else payload,
    }
    queued = []
    for name in names:
        message = outbox.enqueue(
            ctx,
            channel=outbox.NOTIFY,
            kind="event",
            target=name,
            event=event,
            payload=body,
            client=client,
            invoice=invoice,
            credit_note=credit_note,
            dedupe_key=f"event:{body['id']}:{name}",
        )
        if message is not None:
            queued.append(message)
    return queued
