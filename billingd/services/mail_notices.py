"""The emails the built-in ``email`` notifier queues for an event (R-DEL-5, R-RUN-7).

Clients hear of payments received, failed and refunded and of credit notes (with the
credit note's PDF) when they receive their invoices by email (``send_email``) at
their billing address; operators hear of failed payments, failed runs and parked
clients at the addresses of the notifier's ``operator`` setting. An invoice issued is
told by the invoice's own email. Each notice is queued once per event and audience
(``dedupe_key``), so an event delivered to the notifier again after a crash queues
nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from billingd.db.connection import write_transaction
from billingd.db.models import Client, CreditNote
from billingd.services import outbox
from billingd.services.context import ServiceContext
from billingd.services.mail import split_addresses

CLIENT_EVENTS = ("payment.received", "payment.failed", "payment.refunded", "credit_note.issued")
OPERATOR_EVENTS = ("payment.failed", "run.failed", "client.parked")
EVENTS = frozenset(CLIENT_EVENTS + OPERATOR_EVENTS)


@dataclass(frozen=True, slots=True)
class Notice:
    audience: str  # client | operator
    template: str
    recipients: list[str]
    context: dict[str, Any]
    kind: str = "notification"
    language: str = "en"


def _failure(payload: dict[str, Any], currency: str) -> dict[str, Any]:
    retry = payload.get("next_retry")
    if retry:
        step = f"We will try again on {retry}."
    else:
        step = "Please pay the invoice by bank transfer or update your payment method."
    return {
        "invoice": payload.get("invoice", ""),
        "amount": payload.get("amount", ""),
        "currency": payload.get("currency") or currency,
        "message": payload.get("message", ""),
        "attempt": payload.get("attempt", 1),
        "next_step": step,
    }


def _client_context(name: str, payload: dict[str, Any], client: Client) -> dict[str, Any]:
    if name == "payment.received":
        return {"payment": {
            "amount": payload.get("amount", ""), "currency": client.currency,
            "reference": payload.get("reference") or "-", "date": payload.get("date", ""),
        }}  # fmt: skip
    if name == "payment.refunded":
        return {"refund": {
            "amount": payload.get("amount", ""), "currency": client.currency,
            "reference": payload.get("reference") or "-", "reason": payload.get("reason") or "-",
        }}  # fmt: skip
    return {"failure": _failure(payload, client.currency)}


def notices(
    event: dict[str, Any], operator: Sequence[str], client: Client | None
) -> Iterator[Notice]:
    """The emails an event calls for."""
    name, payload = event["name"], event.get("payload") or {}
    if name in CLIENT_EVENTS and client is not None and client.send_email:
        recipients = split_addresses(client.email)
        if recipients and name == "credit_note.issued":
            yield Notice("client", "credit_note", recipients, {}, "credit_note", client.language)
        elif recipients:
            template = name.replace(".", "_")
            context = _client_context(name, payload, client)
            yield Notice("client", template, recipients, context, language=client.language)
    if name in OPERATOR_EVENTS and operator:
        if name == "payment.failed":
            currency = client.currency if client is not None else ""
            yield Notice("operator", "payment_failed_operator", list(operator),
                         {"failure": _failure(payload, currency)})  # fmt: skip
        elif name == "run.failed":
            run = {**payload, "first_error": payload.get("first_error") or "-"}
            yield Notice("operator", "run_failed", list(operator), {"run": run})
        else:
            yield Notice("operator", "client_parked", list(operator),
                         {"parked": {"reason": payload.get("reason", "")}})  # fmt: skip


def queue_notices(ctx: ServiceContext, event: dict[str, Any], operator: Sequence[str]) -> int:
    """Queue the emails of one event; returns how many were new."""
    queued = 0
    with write_transaction():
        client = Client.get_or_none(Client.id == event.get("client_id"))
        note = None
        if event["name"] == "credit_note.issued":
            note = CreditNote.get_or_none(CreditNote.id == (event.get("payload") or {}).get("id"))
        for notice in notices(event, operator, client):
            if notice.kind == "credit_note" and note is None:
                continue
            message = outbox.enqueue(
                ctx,
                channel=outbox.EMAIL,
                kind=notice.kind,
                recipients=notice.recipients,
                event=event["name"],
                payload={"template": notice.template, "context": notice.context},
                language=notice.language,
                enterprise=client.enterprise_id if client is not None else None,
                client=client,
                credit_note=note,
                dedupe_key=f"notice:{event['id']}:{notice.audience}",
            )
            queued += message is not None
    return queued
