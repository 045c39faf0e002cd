"""The append-only audit trail (R-AUD-1)."""

from __future__ import annotations

from typing import Any

from billingd.db.models import AuditEvent
from billingd.db.prepared import PreparedInsert
from billingd.services.context import ServiceContext


def record_audit(
    ctx: ServiceContext,
    event: str,
    *,
    client_id: int | None = None,
    subject: Any = None,
    **details: Any,
) -> AuditEvent:
    """Append one audit event; ``subject`` is the model instance the event is about."""
    event_row = AuditEvent(
        event=event,
        actor=ctx.actor,
        client_id=client_id,
        subject_type=type(subject).__name__.lower() if subject is not None else "",
        subject_id=subject.id if subject is not None else None,
        details=details,
    )
    return INSERT_EVENT.save(event_row)


INSERT_EVENT = PreparedInsert(AuditEvent)


def list_audit(client_id: int | None = None, limit: int = 200) -> list[AuditEvent]:
    query = AuditEvent.select().order_by(AuditEvent.id.desc()).limit(limit)
    if client_id is not None:
        query = query.where(AuditEvent.client_id == client_id)
    return list(query)
