"""Fetching rows by id (or invoice number) with a clear NotFound."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import peewee

from billingd.db.connection import is_postgres
from billingd.db.models import Invoice
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


def find_invoice_row(ref: int | str, columns: Sequence[peewee.Field]) -> tuple[Any, ...]:
    """:func:`find_invoice` as a tuple of just ``columns`` (a read: no model object, no lock)."""
    return _find_invoice(ref, Invoice.select(*columns).tuples())


def _find_invoice(ref: int | str, query: peewee.ModelSelect) -> Any:
    if isinstance(ref, int):
        row = query.where(Invoice.id == ref).first()
        if row is None:
            raise NotFound(f"no invoice with id {ref}", id=ref)
        return row
    matches = list(query.where(Invoice.number == ref).limit(2))
    if len(matches) > 1:
        raise NotFound(f"invoice number {ref!r} is used by several enterprises; use the id")
    if matches:
        return matches[0]
    if ref.isdigit():
        return _find_invoice(int(ref), query)
    raise NotFound(f"no invoice {ref!r}", invoice=ref)
