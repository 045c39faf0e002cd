"""Prepared selects (the hot reads' SQL compiled once) answer exactly what peewee would,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee

from billingd.db.models import Client, Invoice
from billingd.db.prepared import PreparedSelect, Slot
from billingd.services import invoicing, parties
from billingd.services.context import ServiceContext
from billingd.services.lookup import find_invoice, find_invoice_row
from billingd.views import (
    CLIENT_COLUMNS,
    INVOICE_COLUMNS,
    client_view,
    invoice_row_view,
    invoice_view,
)


def _clients(ctx: ServiceContext) -> tuple[int, int]:
    first = parties.add_enterprise(ctx, name="First", currency="EUR", tax_rate=Decimal("19"))
    second = parties.add_enterprise(ctx, name="Second", currency="CHF", tax_rate=Decimal("7.7"))
    for number in range(5):
        parties.add_client(ctx, name=f"Anna {number}", enterprise_id=first.id, company="ACME")
    parties.add_client(ctx, name="Bruno", enterprise_id=second.id, company="Zeta AG")
    return first.id, second.id


def test_prepared_rows_equal_peewee_tuples_with_every_conversion(ctx: ServiceContext) -> None:
    first, _ = _clients(ctx)
    client = Client.select().first()
    invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(2024, 2, 29), amount=Decimal("119"), count=2
    )
    expected = list(Invoice.select(*_fields(Invoice, INVOICE_COLUMNS)).tuples())
    prepared = PreparedSelect(
        lambda: Invoice.select(*_fields(Invoice, INVOICE_COLUMNS)).where(
            Invoice.enterprise == Slot("enterprise")
        )
    )
    rows = prepared.tuples(enterprise=first)
    assert rows == expected
    assert isinstance(rows[0][INVOICE_COLUMNS.index("total")], Decimal)
    assert rows[0][INVOICE_COLUMNS.index("issue_date")] == dt.date(2024, 2, 29)


def test_bound_values_are_not_baked_into_the_sql(ctx: ServiceContext) -> None:
    first, second = _clients(ctx)
    assert parties.count_clients() == 6
    assert parties.count_clients(first) == 5
    assert parties.count_clients(second) == 1
    assert parties.count_clients(second + 1000) == 0


def test_client_page_variants_filter_page_and_match_case_insensitively(
    ctx: ServiceContext,
) -> None:
    first, second = _clients(ctx)
    everyone = parties.list_client_rows(CLIENT_COLUMNS)
    assert [row[0] for row in everyone] == sorted(c.id for c in Client.select())
    assert [client_view(c) for c in Client.select().order_by(Client.id)] == [
        dict(zip(CLIENT_COLUMNS, row, strict=True)) for row in everyone
    ]
    page = parties.list_client_rows(CLIENT_COLUMNS, first, limit=2, offset=3)
    assert [row[CLIENT_COLUMNS.index("name")] for row in page] == ["Anna 3", "Anna 4"]
    found = parties.list_client_rows(CLIENT_COLUMNS, search="zeta")
    assert [row[CLIENT_COLUMNS.index("name")] for row in found] == ["Bruno"]
    assert parties.list_client_rows(CLIENT_COLUMNS, first, search="zeta") == []
    assert len(parties.list_client_rows(CLIENT_COLUMNS, second, search="")) == 1


def test_invoice_row_by_id_number_and_digit_fallback_matches_the_model_view(
    ctx: ServiceContext,
) -> None:
    _clients(ctx)
    client = Client.select().first()
    (issued,) = invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(2026, 3, 31), amount=Decimal("50")
    )
    by_model = invoice_view(find_invoice(issued.id))
    assert invoice_row_view(find_invoice_row(issued.id, INVOICE_COLUMNS)) == by_model
    assert invoice_row_view(find_invoice_row(issued.number, INVOICE_COLUMNS)) == by_model
    assert invoice_row_view(find_invoice_row(str(issued.id), INVOICE_COLUMNS)) == by_model
    assert by_model["lines"] and by_model["tax_breakdown"]


def _fields(model: type[peewee.Model], names: tuple[str, ...]) -> list[peewee.Field]:
    return [model._meta.columns[name] for name in names]
