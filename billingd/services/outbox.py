"""The outbox: every delivery billingd makes, queued in the transaction that caused it
(R-DEL-3..5, R-INV-10).

An email, a portal upload, a webhook call or a notifier's notice is an
:class:`~billingd.db.models.OutboxMessage` written with the invoice, payment or
reminder it is about, so a rollback queues nothing and a commit loses nothing. The
daemon's :mod:`billingd.outbox_worker` delivers the due messages in three steps, each
of which a crash may cut short without harm:

1. :func:`claim` marks due messages ``sending`` for one claimer and fixes each
   message's ``message_id`` at its first attempt (kept for every retry, so a receiver
   can drop the rare duplicate of a message re-sent after a crash);
2. the channel delivers it, outside any transaction;
3. :func:`record` stores the outcome in a transaction of its own (its error and receipt
   without secrets: :func:`~billingd.hardening.mask_secrets`), and only while the
   message is still the claimer's: ``sent``, or back to ``queued`` with a pause that
   doubles from :data:`BACKOFF` on the daemon's clock, or ``failed`` for good on a
   permanent refusal (an SMTP 5xx, :class:`~billingd.plugins.PermanentFailure`) or
   after :data:`MAX_ATTEMPTS`.

A message caught ``sending`` by a crash goes back to ``queued`` and is delivered
again with the same Message-ID (:mod:`billingd.services.leases`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from peewee import fn

from billingd.db.connection import write_transaction
from billingd.db.models import (
    Client,
    CreditNote,
    Delivery,
    Enterprise,
    Invoice,
    OutboxMessage,
    utcnow,
)
from billingd.db.prepared import PreparedInsert
from billingd.domain import outbox_states
from billingd.errors import ValidationError
from billingd.hardening import mask_secrets
from billingd.services import leases
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.lookup import get_or_refuse

log = logging.getLogger("billingd.outbox")

CHANNELS = outbox_states.CHANNELS
EMAIL, UPLOAD, NOTIFY = CHANNELS
STATES = outbox_states.STATES
MAX_ATTEMPTS = 12
"""Deliveries tried per message before it stays failed (about a day with :data:`BACKOFF`)."""
BACKOFF = (dt.timedelta(minutes=1), dt.timedelta(hours=6))
"""The pause after a failed attempt: the first, doubling up to the second."""
LEASE = dt.timedelta(minutes=10)
"""How long (real time) a claim holds before another daemon may take the message over."""


INSERT_MESSAGE = PreparedInsert(OutboxMessage)


def enqueue(
    ctx: ServiceContext,
    *,
    channel: str,
    kind: str,
    target: str = "",
    recipients: Iterable[str] = (),
    event: str = "",
    payload: dict[str, Any] | None = None,
    subject: str = "",
    language: str = "en",
    enterprise: Enterprise | int | None = None,
    client: Client | int | None = None,
    invoice: Invoice | int | None = None,
    credit_note: CreditNote | int | None = None,
    delivery: Delivery | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage | None:
    """Queue one delivery; call inside the write transaction that causes it.

    With ``dedupe_key``, a message already queued under that key makes this a no-op
    (None): a reminder step, an event's fan-out after a crash. The worker is told
    after the commit (``outbox.queued``).
    """
    if channel not in CHANNELS:
        raise ValidationError(f"unknown outbox channel {channel!r}", field="channel")
    if (
        dedupe_key is not None
        and OutboxMessage.select().where(OutboxMessage.dedupe_key == dedupe_key).exists()
    ):
        return None
    message = OutboxMessage(
        channel=channel,
        kind=kind,
        target=target,
        recipients=list(recipients),
        event=event,
        payload=payload or {},
        subject=subject,
        language=language or "en",
        enterprise=enterprise,
        client=client,
        invoice=invoice,
        credit_note=credit_note,
        delivery=delivery,
        dedupe_key=dedupe_key,
        actor=ctx.actor,
    )
    INSERT_MESSAGE.save(message)  # a run queues one per invoice: no query built per row
    ctx.emit("outbox.queued", {"id": message.id, "channel": channel, "kind": kind})
    return message


# -- the worker's side ---------------------------------------------------------------------


def _due(now: dt.datetime, real_now: dt.datetime) -> Any:
    """Messages to deliver: queued and due, or claimed under a lapsed lease."""
    state, at = OutboxMessage.state, OutboxMessage.next_attempt_at
    return ((state == "queued") & (at.is_null() | (at <= now))) | (
        (state == "sending") & (OutboxMessage.claimed_at < real_now - LEASE)
    )


def message_id_for(message: OutboxMessage, domain: str) -> str:
    """The RFC 5322 Message-ID a message keeps across retries: its kind, what it is
    about (with the document version once known) and its own id."""
    about = ""
    if message.invoice_id:
        about = f"inv{message.invoice_id}"
    elif message.credit_note_id:
        about = f"cn{message.credit_note_id}"
    version = f".v{message.document_version}" if message.document_version else ""
    return f"<billingd.{message.kind}.{about}{version}.m{message.id}@{domain}>"


def claim(
    ctx: ServiceContext,
    limit: int,
    claimer: str,
    channels: Iterable[str] = CHANNELS,
    *,
    domain: str = "billingd.invalid",
    exclude: Iterable[int] = (),
) -> list[OutboxMessage]:
    """Mark up to ``limit`` due messages of ``channels`` ``sending`` for ``claimer``,
    oldest first, and give each its Message-ID at its first attempt. Messages in
    ``exclude`` (waiting for their documents) are left."""
    real_now = utcnow()
    condition = _due(ctx.now_utc(), real_now) & OutboxMessage.channel.in_(list(channels))
    exclude = list(exclude)
    if exclude:
        condition &= OutboxMessage.id.not_in(exclude)
    with write_transaction():
        rows = list(OutboxMessage.select().where(condition).order_by(OutboxMessage.id).limit(limit))
        if not rows:
            return rows
        OutboxMessage.update(
            state="sending",
            claimed_by=claimer,
            claimed_at=real_now,
            attempts=OutboxMessage.attempts + 1,
        ).where(OutboxMessage.id.in_([m.id for m in rows])).execute()
        for message in rows:
            message.state, message.claimed_by, message.claimed_at = "sending", claimer, real_now
            message.attempts += 1
            if message.message_id is None:  # fixed at the first attempt, kept for retries
                message.message_id = message_id_for(message, domain)
                OutboxMessage.update(message_id=message.message_id).where(
                    OutboxMessage.id == message.id
                ).execute()
    return rows


def release_abandoned(claimer: str, keep: Iterable[int] = ()) -> int:
    """Put back to ``queued`` the messages a dead process left ``sending`` on this host
    (they keep their Message-ID), and ``claimer``'s own not in ``keep``."""
    return len(leases.release_abandoned(OutboxMessage, "sending", "queued", claimer, keep))


def backoff(attempts: int) -> dt.timedelta:
    """The pause before try ``attempts + 1``."""
    return leases.backoff(attempts, *BACKOFF)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery attempt.

    ``error`` empty: delivered. Otherwise ``permanent`` gives up at once, and
    ``later`` puts the message back without counting the attempt (what it needs, such
    as its document, is not ready yet).
    """

    message_id: int
    error: str = ""
    permanent: bool = False
    later: dt.timedelta | None = None
    receipt: dict[str, Any] | None = None


def _sync_delivery(message: OutboxMessage) -> None:
    """Keep an invoice send's record (R-INV-10) in step with its message."""
    if message.delivery_id is None:
        return
    Delivery.update(
        status=message.state if message.state != "sending" else "queued",
        attempts=message.attempts,
        last_error=message.last_error,
        sent_at=message.sent_at,
    ).where(Delivery.id == message.delivery_id).execute()


def _record_sent(ctx: ServiceContext, ids: list[int], claimer: str) -> None:
    """Mark delivered messages ``sent`` with a few statements, however many there are:
    the bulk of a mass send (their Delivery records follow)."""
    mine = (
        OutboxMessage.id.in_(ids)
        & (OutboxMessage.state == "sending")
        & (OutboxMessage.claimed_by == claimer)
    )
    rows = list(
        OutboxMessage.select(
            OutboxMessage.id, OutboxMessage.channel, OutboxMessage.kind,
            OutboxMessage.client, OutboxMessage.invoice, OutboxMessage.delivery,
            OutboxMessage.attempts,
        ).where(mine)
    )  # fmt: skip
    if not rows:
        return
    sent_at = utcnow()
    OutboxMessage.update(
        state="sent", sent_at=sent_at, last_error="", claimed_by=None, claimed_at=None
    ).where(OutboxMessage.id.in_([row.id for row in rows])).execute()
    for attempts in {row.attempts for row in rows if row.delivery_id}:
        deliveries = [r.delivery_id for r in rows if r.delivery_id and r.attempts == attempts]
        Delivery.update(status="sent", sent_at=sent_at, last_error="", attempts=attempts).where(
            Delivery.id.in_(deliveries)
        ).execute()
    for row in rows:
        row.state = "sent"
        ctx.emit("outbox.sent", view_event(row))


def _record_one(ctx: ServiceContext, outcome: Outcome, claimer: str) -> None:
    """An outcome that is not a plain delivery: a receipt, a retry, a failure."""
    message = OutboxMessage.get_or_none(OutboxMessage.id == outcome.message_id)
    if message is None or message.state != "sending" or message.claimed_by != claimer:
        return
    message.claimed_by = None
    message.claimed_at = None
    now = ctx.now_utc()
    if not outcome.error:
        message.state = "sent"
        message.sent_at = utcnow()
        message.last_error = ""
        message.payload = {**message.payload, "receipt": outcome.receipt}
        ctx.emit("outbox.sent", view_event(message))
    elif outcome.later is not None:
        message.state = "queued"
        message.attempts -= 1
        message.next_attempt_at = now + outcome.later
        message.last_error = outcome.error
    elif outcome.permanent or message.attempts >= MAX_ATTEMPTS:
        message.state = "failed"
        message.last_error = outcome.error
        message.next_attempt_at = None
        record_audit(
            ctx,
            "outbox.failed",
            client_id=message.client_id,
            subject=message,
            channel=message.channel,
            kind=message.kind,
            attempts=message.attempts,
            error=outcome.error,
        )
        ctx.emit("outbox.failed", view_event(message))
    else:
        message.state = "queued"
        message.last_error = outcome.error
        message.next_attempt_at = now + backoff(message.attempts)
    message.save()
    _sync_delivery(message)


def record(ctx: ServiceContext, outcomes: Iterable[Outcome], claimer: str) -> None:
    """Store outcomes in one transaction, each only while its message is still
    ``claimer``'s (a message another claimer took over is left to it)."""
    outcomes = [
        replace(o, error=mask_secrets(o.error), receipt=mask_secrets(o.receipt))
        if o.error or o.receipt
        else o
        for o in outcomes
    ]
    plain = [o.message_id for o in outcomes if not o.error and not o.receipt]
    with write_transaction():
        for start in range(0, len(plain), 500):
            _record_sent(ctx, plain[start : start + 500], claimer)
        for outcome in outcomes:
            if outcome.error or outcome.receipt:
                _record_one(ctx, outcome, claimer)


def view_event(message: OutboxMessage) -> dict[str, Any]:
    """The small event payload about a message (for subscribers and the TUI)."""
    return {
        "id": message.id,
        "channel": message.channel,
        "kind": message.kind,
        "state": message.state,
        "client_id": message.client_id,
        "invoice_id": message.invoice_id,
    }


# -- operators' side -----------------------------------------------------------------------


def find_message(message_id: int) -> OutboxMessage:
    return get_or_refuse(OutboxMessage, message_id)


def list_messages(
    *,
    state: str | None = None,
    channel: str | None = None,
    client_id: int | None = None,
    invoice_id: int | None = None,
    limit: int = 200,
) -> list[OutboxMessage]:
    """Newest first, filtered."""
    query = OutboxMessage.select().order_by(OutboxMessage.id.desc()).limit(limit)
    if state is not None:
        if state not in STATES:
            raise ValidationError(
                f"unknown state {state!r} (one of {', '.join(STATES)})", field="state"
            )
        query = query.where(OutboxMessage.state == state)
    if channel is not None:
        if channel not in CHANNELS:
            raise ValidationError(
                f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})", field="channel"
            )
        query = query.where(OutboxMessage.channel == channel)
    if client_id is not None:
        query = query.where(OutboxMessage.client == client_id)
    if invoice_id is not None:
        query = query.where(OutboxMessage.invoice == invoice_id)
    return list(query)


OPEN_STATES = ("queued", "sending", "failed")
"""The states an operator watches: waiting, under way, given up."""


def counts(states: Iterable[str] = OPEN_STATES) -> dict[str, dict[str, int]]:
    """Messages per channel in ``states``: ``{"email": {"queued": 3, "failed": 1}}``."""
    result: dict[str, dict[str, int]] = {}
    query = (
        OutboxMessage.select(
            OutboxMessage.channel, OutboxMessage.state, fn.COUNT(OutboxMessage.id).alias("n")
        )
        .where(OutboxMessage.state.in_(list(states)))
        .group_by(OutboxMessage.channel, OutboxMessage.state)
    )
    for row in query:
        result.setdefault(row.channel, {})[row.state] = row.n
    return result


def _operator_action(ctx: ServiceContext, message_id: int, action: str) -> OutboxMessage:
    """Retry or cancel a message, as :mod:`billingd.domain.outbox_states` allows."""
    with write_transaction():
        message = find_message(message_id)
        old = message.state
        message.state = outbox_states.after(action, message.id, old)
        message.next_attempt_at = None
        if action == "retry":
            message.attempts = 0  # fresh attempts, due now
        message.save()
        _sync_delivery(message)
        done = "retried" if action == "retry" else "cancelled"
        record_audit(
            ctx,
            f"outbox.{done}",
            client_id=message.client_id,
            subject=message,
            channel=message.channel,
            state=[old, message.state],
        )
        ctx.emit(f"outbox.{message.state}", view_event(message))
    return message


def retry(ctx: ServiceContext, message_id: int) -> OutboxMessage:
    """Queue a failed or cancelled message again, due now, with fresh attempts."""
    return _operator_action(ctx, message_id, "retry")


def cancel(ctx: ServiceContext, message_id: int) -> OutboxMessage:
    """Stop a message that is waiting or failed; a sent one stays sent."""
    return _operator_action(ctx, message_id, "cancel")
