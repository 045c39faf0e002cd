"""Drawing the next document number inside the issuing transaction (R-NUM-3..6)."""

from __future__ import annotations

import datetime as dt

import peewee

from billingd.db.connection import is_postgres
from billingd.db.models import CreditNote, Enterprise, Invoice, NumberSequence
from billingd.db.prepared import PreparedSelect, PreparedUpdate, Slot
from billingd.domain.numbering import (
    IssueOrderError,
    check_issue_order,
    first_free,
    format_number,
    period_range,
    sequence_key,
)
from billingd.errors import RuleViolation

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
KINDS = (INVOICE, CREDIT_NOTE)


def _settings(enterprise: Enterprise, kind: str) -> tuple[str, int, str]:
    """The pattern, start and reset policy of one kind of document (R-NUM-4, R-NUM-5)."""
    if kind == INVOICE:
        return enterprise.invoice_pattern, enterprise.invoice_start, enterprise.invoice_reset
    if kind == CREDIT_NOTE:
        return (
            enterprise.credit_note_pattern,
            enterprise.credit_note_start,
            enterprise.credit_note_reset,
        )
    raise ValueError(f"unknown document kind {kind!r}")


def _numbered(enterprise: Enterprise | int, kind: str) -> peewee.ModelSelect:
    """The numbered documents of one kind of an enterprise (drafts have no number)."""
    model = Invoice if kind == INVOICE else CreditNote
    return model.select().where((model.enterprise == enterprise) & model.number.is_null(False))


def _latest_date(kind: str, bounded: bool) -> peewee.Select:
    model = Invoice if kind == INVOICE else CreditNote
    query = model.select(model.issue_date).where(
        (model.enterprise == Slot("enterprise")) & model.number.is_null(False)
    )
    if bounded:
        query = query.where(model.issue_date.between(Slot("first"), Slot("last")))
    return query.order_by(model.issue_date.desc()).limit(1)


LATEST_DATE = PreparedSelect(_latest_date)


def _number_taken(kind: str) -> peewee.Select:
    model = Invoice if kind == INVOICE else CreditNote
    return (
        model.select(model.id)
        .where(
            (model.enterprise == Slot("enterprise"))
            & model.number.is_null(False)
            & (model.number == Slot("number"))
        )
        .limit(1)
    )


NUMBER_TAKEN = PreparedSelect(_number_taken)


def _sequence(lock: bool) -> peewee.Select:
    query = NumberSequence.select(NumberSequence.id, NumberSequence.next_value).where(
        (NumberSequence.enterprise == Slot("enterprise"))
        & (NumberSequence.kind == Slot("kind"))
        & (NumberSequence.period_key == Slot("key"))
    )
    return query.for_update() if lock else query


SEQUENCE = PreparedSelect(_sequence)
ADVANCE = PreparedUpdate(NumberSequence, NumberSequence.next_value)


def latest_issue_date(enterprise: Enterprise, kind: str, on: dt.date) -> dt.date | None:
    """The latest issue date already numbered in the sequence that ``on`` belongs to.

    A document of that sequence may be dated on or after it, not before (R-NUM-6); the
    scheduler dates backlog invoices accordingly. None when the sequence is empty.
    """
    _, _, policy = _settings(enterprise, kind)
    first, last = period_range(policy, on)
    bounded = first is not None
    latest = LATEST_DATE.first((kind, bounded), enterprise=enterprise.id, first=first, last=last)
    return latest[0] if latest else None


def next_number(enterprise: Enterprise, kind: str, issue_date: dt.date) -> str:
    """Take the next number of a sequence; call only inside a write transaction.

    The sequence row is locked (``FOR UPDATE`` on PostgreSQL; SQLite's write lock is
    taken by ``BEGIN IMMEDIATE``), so concurrent issuers queue, and a rollback
    returns the number: no gaps, no duplicates. Under that lock the issue date is
    checked against the sequence's latest one (R-NUM-6), and a number a document
    already carries (after a change of pattern, start or reset policy) is passed
    over: the sequence continues after it (docs/billing-rules.md, "Numbering").
    """
    pattern, start, policy = _settings(enterprise, kind)
    key = sequence_key(policy, issue_date)
    lock = (is_postgres(),)
    found = SEQUENCE.first(lock, enterprise=enterprise.id, kind=kind, key=key)
    if found is None:  # the sequence's first number
        NumberSequence.insert(
            enterprise=enterprise, kind=kind, period_key=key, next_value=start
        ).on_conflict_ignore().execute()
        found = SEQUENCE.first(lock, enterprise=enterprise.id, kind=kind, key=key)
    assert found is not None
    sequence = NumberSequence(id=found[0], next_value=found[1])
    latest = latest_issue_date(enterprise, kind, issue_date)
    try:
        check_issue_order(issue_date, latest)
    except IssueOrderError as exc:
        raise RuleViolation(
            "R-NUM-6",
            f"{kind.replace('_', ' ')} {exc}",
            issue_date=issue_date.isoformat(),
            latest_issue_date=latest.isoformat() if latest else None,
        ) from None
    value = sequence.next_value
    number = format_number(pattern, value, issue_date)
    if NUMBER_TAKEN.first((kind,), enterprise=enterprise.id, number=number) is not None:
        numbered = _numbered(enterprise, kind)
        model = numbered.model
        issued = (row.number for row in numbered.select(model.number).iterator())
        value = first_free(pattern, issue_date, value, issued)
        number = format_number(pattern, value, issue_date)
    sequence.next_value = value + 1
    ADVANCE.save(sequence)
    return number
