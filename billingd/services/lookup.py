"""Fetching rows by id (or invoice number) with a clear NotFound."""

from __future__ import annotations

from typing import TypeVar

import peewee

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


def find_invoice(ref: int | str) -> Invoice:
    """An invoice by id (an int) or by number (a string; an all-digit string that is
    no number falls back to the id). Numbers are unique per enterprise."""
    if isinstance(ref, int):
        return get_or_refuse(Invoice, ref)
    matches = list(Invoice.select().where(Invoice.number == ref).limit(2))
    if len(matches) > 1:
        raise NotFound(f"invoice number {ref!r} is used by several enterprises; use the id")
    if matches:
        return matches[0]
    if ref.isdigit():
        return get_or_refuse(Invoice, int(ref))
    raise NotFound(f"no invoice {ref!r}", invoice=ref)
