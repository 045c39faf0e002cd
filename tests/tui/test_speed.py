"""What keeps the clients screen fast at 100,000 clients (bench/tui.py measures it):
the search's trigram indexes on PostgreSQL and the client count, on both backends."""

from __future__ import annotations

import peewee
import pytest

from billingd.db.connection import is_postgres
from billingd.db.migrations import SCHEMA_VERSION, SEARCHED_COLUMNS, migrate
from billingd.db.models import SchemaVersion
from billingd.services import parties
from billingd.services.context import ServiceContext
from billingd.views import CLIENT_COLUMNS

NAMES = ("Alpine Logistics", "Baltic Dental", "Cobalt Studios", "Delta Legal", "Ember Foods")


def _indexes(db: peewee.Database) -> set[str]:
    if not is_postgres(db):
        return set()
    rows = db.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'client'")
    return {name for (name,) in rows.fetchall()}


def test_search_finds_what_it_found_before_the_indexes(ctx: ServiceContext, acme, db) -> None:  # type: ignore[no-untyped-def]
    other = parties.add_enterprise(ctx, name="Other", currency="USD")
    for n in range(60):
        parties.add_client(
            ctx, name=f"{NAMES[n % 5]} {n:03d}", company=f"{NAMES[(n + 2) % 5]} Holding",
            contract_number=f"C-{1000 + n}", enterprise_id=(acme if n % 4 else other).id,
        )  # fmt: skip
    rows = parties.list_client_rows(CLIENT_COLUMNS, limit=1000)
    name, company, contract = (CLIENT_COLUMNS.index(c) for c in SEARCHED_COLUMNS)
    for text in ("dental", "DELTA L", "c-1042", "Holding", "042", "nobody", "al 01"):
        expected = [
            row[0] for row in rows
            if any(text.lower() in str(row[i]).lower() for i in (name, company, contract))
        ]  # fmt: skip
        found = parties.list_client_rows(CLIENT_COLUMNS, search=text, limit=1000)
        assert [row[0] for row in found] == expected, text
        page = parties.list_client_rows(CLIENT_COLUMNS, search=text, limit=5, offset=5)
        assert [row[0] for row in page] == expected[5:10], text
    assert parties.count_clients() == 60
    assert parties.count_clients(acme.id) == 45
    assert parties.count_clients(other.id) == 15


def test_postgresql_gets_the_search_indexes_new_and_on_upgrade(db) -> None:  # type: ignore[no-untyped-def]
    trigram = {f"client_{column}_trgm" for column in SEARCHED_COLUMNS}
    if not is_postgres(db):
        pytest.skip("SQLite has no trigram index: its LIKE scan stays")
    assert trigram <= _indexes(db)
    for index in trigram:  # a version 5 database, as the last release left it
        db.execute_sql(f'DROP INDEX "{index}"')
    SchemaVersion.delete().where(SchemaVersion.version >= 6).execute()
    assert migrate(db) == SCHEMA_VERSION
    assert trigram <= _indexes(db)
