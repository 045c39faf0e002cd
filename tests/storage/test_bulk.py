"""Bulk inserts (billingd/db/bulk.py) store exactly what the ORM would, on both backends:
awkward text (tabs, newlines, backslashes, quotes, non-ASCII, empty), NULL, booleans,
times, decimals as text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee

from billingd.db.bulk import insert_rows, reserve_ids, stored_form
from billingd.db.connection import write_transaction
from billingd.db.models import BillGroup, Client, Enterprise, UsageImport, UsageImportRow
from billingd.services.import_writers import Table

AWKWARD = ["tab\there", "new\nline\r\n", "back\\slash \\N", 'quote " , ;', "Ünïcødé €", ""]


def test_bulk_rows_read_back_as_the_orm_stores_them(db: peewee.Database) -> None:
    enterprise = Enterprise.create(name="Acme", currency="EUR", timezone="Europe/Berlin")
    client = Client.create(name="Jane", enterprise=enterprise, currency="EUR")
    stage = UsageImport.create(token="t")
    at = dt.datetime(2026, 3, 31, 23, 59, 59, 123456)
    fields = [
        UsageImportRow.id,
        UsageImportRow.usage_import,
        UsageImportRow.line,
        UsageImportRow.client_id,
        UsageImportRow.occurred_at,
        UsageImportRow.destination,
        UsageImportRow.destination_group,
        UsageImportRow.quantity,
        UsageImportRow.unit,
        UsageImportRow.amount,
        UsageImportRow.external_id,
        UsageImportRow.contract_id,
    ]
    with write_transaction():
        ids = reserve_ids(UsageImportRow, len(AWKWARD))
        rows = [
            (row_id, stage.id, n, client.id, stored_form(at), text, text or "g", "1.50",
             "", "0.000001", None if n % 2 else text, None)
            for n, (row_id, text) in enumerate(zip(ids, AWKWARD, strict=True))
        ]  # fmt: skip
        insert_rows(UsageImportRow, fields, rows)
    assert ids == sorted(ids) and len(set(ids)) == len(AWKWARD)
    stored = list(UsageImportRow.select().order_by(UsageImportRow.id))
    assert [r.id for r in stored] == ids
    assert [r.destination for r in stored] == AWKWARD
    assert {r.occurred_at for r in stored} == {at}
    assert {r.quantity for r in stored} == {Decimal("1.50")}
    assert {r.amount for r in stored} == {Decimal("0.000001")}
    assert {r.unit for r in stored} == {""}, "an empty text stays empty, not NULL"
    assert [r.external_id for r in stored] == [
        text if n % 2 == 0 else None for n, text in enumerate(AWKWARD)
    ]
    assert {r.contract_id for r in stored} == {None}
    # ids reserved later follow, also after rows the ORM inserted
    orm = UsageImportRow.create(
        usage_import=stage, line=9, client_id=client.id, occurred_at=at,
        destination_group="g", quantity=Decimal(1), amount=Decimal(1),
    )  # fmt: skip
    with write_transaction():
        assert reserve_ids(UsageImportRow, 2)[0] > orm.id > ids[-1]


def test_a_table_fills_the_model_defaults_and_stores_booleans(db: peewee.Database) -> None:
    enterprise = Enterprise.create(name="Acme", currency="EUR", timezone="Europe/Berlin")
    client = Client.create(name="Jane", enterprise=enterprise, currency="EUR")
    groups = Table(BillGroup, {"client": client.id, "address": "Hauptstr. 1"})
    with write_transaction():
        first, second = reserve_ids(BillGroup, 2)
        a = groups.row(first, {"name": "A", "is_default": True})
        b = groups.row(second, {"name": "B", "custom_fields": {"po": "7"}})
        groups.insert([a, b])
        assert reserve_ids(BillGroup, 0) == []
    a, b = BillGroup.select().order_by(BillGroup.id)
    assert (a.name, a.is_default, b.name, b.is_default) == ("A", True, "B", False)
    assert (a.invoicing, a.custom_fields, b.custom_fields) == ("auto", {}, {"po": "7"})
    assert a.address == b.address == "Hauptstr. 1"


def test_fixed_columns_are_stored_as_if_bound_with_each_row(db: peewee.Database) -> None:
    enterprise = Enterprise.create(name="Acme", currency="EUR", timezone="Europe/Berlin")
    client = Client.create(name="Jane", enterprise=enterprise, currency="EUR")
    fixed = {"client": client.id, "name": "O'Brien's; DROP", "review_days": 7}
    groups = Table(BillGroup, fixed, ("address",))
    assert {field.name for field, _ in groups.fixed} >= {"name", "review_days", "is_default"}
    with write_transaction():
        ids = reserve_ids(BillGroup, 2)
        groups.insert(
            [groups.row(ids[0], {"address": "a\tb"}), groups.row(ids[1], {"address": "'"})]
        )
    a, b = BillGroup.select().order_by(BillGroup.id)
    assert (a.address, b.address) == ("a\tb", "'")
    assert {a.name, b.name} == {"O'Brien's; DROP"}
    assert a.client_id == b.client_id == client.id
    assert (a.review_days, a.is_default, a.uploader, a.custom_fields) == (7, False, None, {})
