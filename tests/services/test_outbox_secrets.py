"""An outbox outcome is stored without secrets (SPEC §12, issue 14): a delivery error or
receipt that holds a URL with a password (a plugin's exception naming its endpoint)
is masked before it is written to the message, its invoice's delivery record and the
audit trail; a row an older billingd stored unmasked is masked when shown."""

from __future__ import annotations

import json

import peewee

from billingd.db.models import AuditEvent, OutboxMessage
from billingd.services import outbox
from billingd.services.context import ServiceContext
from billingd.views import outbox_view

ERROR = "webhook 'erp' (https://erp:Pw-7c1e@hooks.example/in): ConnectionRefusedError"
MASKED = "webhook 'erp' (https://erp:***@hooks.example/in): ConnectionRefusedError"


def _claimed(ctx: ServiceContext) -> OutboxMessage:
    OutboxMessage.create(channel=outbox.NOTIFY, kind="event", target="webhook:erp")
    (message,) = outbox.claim(ctx, 1, "tester", [outbox.NOTIFY])
    return message


def test_a_failure_is_stored_masked(db: peewee.Database, ctx: ServiceContext) -> None:
    message = _claimed(ctx)
    outbox.record(ctx, [outbox.Outcome(message.id, ERROR, permanent=True)], "tester")
    stored = OutboxMessage.get_by_id(message.id)
    assert (stored.state, stored.last_error) == ("failed", MASKED)
    (audit,) = AuditEvent.select().where(AuditEvent.event == "outbox.failed")
    assert "Pw-7c1e" not in json.dumps(audit.details)


def test_a_receipt_is_stored_masked(db: peewee.Database, ctx: ServiceContext) -> None:
    message = _claimed(ctx)
    receipt = {"url": "https://portal:Pw-7c1e@portal.example/x", "status": 200}
    outbox.record(ctx, [outbox.Outcome(message.id, receipt=receipt)], "tester")
    stored = OutboxMessage.get_by_id(message.id)
    assert stored.payload["receipt"]["url"] == "https://portal:***@portal.example/x"


def test_an_unmasked_row_of_an_older_billingd_is_shown_masked(db: peewee.Database) -> None:
    message = OutboxMessage.create(
        channel=outbox.NOTIFY, kind="event", target="webhook:erp", last_error=ERROR
    )
    assert outbox_view(message, with_payload=True)["last_error"] == MASKED
