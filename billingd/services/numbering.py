"""Drawing the next document number inside the issuing transaction (R-NUM-3)."""

from __future__ import annotations

import datetime as dt

from billingd.db.connection import is_postgres
from billingd.db.models import Enterprise, NumberSequence
from billingd.domain.numbering import format_number, sequence_key

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"


def next_number(enterprise: Enterprise, kind: str, issue_date: dt.date) -> str:
    """Take the next number of a sequence; call only inside a write transaction.

    The sequence row is locked (``FOR UPDATE`` on PostgreSQL; SQLite's write lock is
    taken by ``BEGIN IMMEDIATE``), so concurrent issuers queue, and a rollback
    returns the number: no gaps, no duplicates.
    """
    if kind == INVOICE:
        pattern, start = enterprise.invoice_pattern, enterprise.invoice_start
    else:
        pattern, start = enterprise.credit_note_pattern, enterprise.credit_note_start
    key = sequence_key(enterprise.invoice_reset, issue_date)
    NumberSequence.insert(
        enterprise=enterprise, kind=kind, period_key=key, next_value=start
    ).on_conflict_ignore().execute()
    query = NumberSequence.select().where(
        (NumberSequence.enterprise == enterprise)
        & (NumberSequence.kind == kind)
        & (NumberSequence.period_key == key)
    )
    if is_postgres():
        query = query.for_update()
    sequence = query.get()
    value = sequence.next_value
    NumberSequence.update(next_value=value + 1).where(NumberSequence.id == sequence.id).execute()
    return format_number(pattern, value, issue_date)
