"""Fetching rows by id (or invoice number) with a clear NotFound."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import peewee

from billingd.db.connection import is_postgres
from billingd.db.models import Invoice
from billingd.db.prepared import PreparedSelect, Slot
from billingd.domain.bounds import id_value
from billingd.errors import NotFound

M = TypeVar("M", bound=peewee.Model)


def get_or_refuse(model: type[M], object_id: int) -> M:
    """The row with this id, or NotFound naming the kind of object."""
    row = model.get_or_none(model.id == object_id)
    if row is None:
        label = model._meta.table_name.replace("_", " ")
        raise NotFound(f"no {label} with id {object_id}", id=object_id)
    return row


def find_invoice(ref: int | str, *, lock: bool = False) -> Invoice:
    """An invoice by id (an int) or by number (a string; an all-digit string that is
    no number falls back to the id). Numbers are unique per enterprise.

    With ``lock`` the row is locked until the transaction ends (``FOR UPDATE`` on
    PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so checks
    on its balance and the update that follows cannot race another writer.
    """
    query = Invoice.select()
    return _find_invoice(ref, query.for_update() if lock and is_postgres() else query)


def _invoice_rows(columns: tuple[str, ...], by_number: bool) -> peewee.Select:
    query = Invoice.select(*(Invoice._meta.columns[name] for name in columns))
    if by_number:
        return query.where(Invoice.number == Slot("ref")).limit(2)
    return query.where(Invoice.id == Slot("ref"))


INVOICE_ROWS = PreparedSelect(_invoice_rows)


def find_invoice_row(ref: int | str, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """:func:`find_invoice` as a tuple of the named ``columns`` (a read: no model object,
    no lock)."""
    if isinstance(ref, int):
        return _found(INVOICE_ROWS.first((columns, False), ref=ref), ref)
    matches = INVOICE_ROWS.tuples((columns, True), ref=ref)
    return _one_by_number(ref, matches, lambda by_id: find_invoice_row(by_id, columns))


def _find_invoice(ref: int | str, query: peewee.ModelSelect) -> Invoice:
    if isinstance(ref, int):
        return _found(query.where(Invoice.id == ref).first(), ref)
    matches = list(query.where(Invoice.number == ref).limit(2))
    return _one_by_number(ref, matches, lambda by_id: _find_invoice(by_id, query))


def _found(row: Any, invoice_id: int) -> Any:
    if row is None:
        raise NotFound(f"no invoice with id {invoice_id}", id=invoice_id)
    return row


def _one_by_number(ref: str, matches: list[Any], find_by_id: Callable[[int], Any]) -> Any:
    """The one invoice numbered ``ref``; an all-digit ``ref`` that is no number is an id."""
    if len(matches) > 1:
        raise NotFound(f"invoice number {ref!r} is used by several enterprises; use the id")
    if matches:
        return matches[0]
    by_id = id_value(ref)
    if by_id is not None:
        return find_by_id(by_id)
    raise NotFound(f"no invoice {ref!r}", invoice=ref)
