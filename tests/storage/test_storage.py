"""Storage on SQLite and PostgreSQL: schema, exact money, the first billing flow."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee
import pytest

from billingd.db.migrations import SCHEMA_VERSION, SchemaError, current_version, migrate
from billingd.db.models import (
    AuditEvent,
    Invoice,
    LedgerEntry,
    SchemaVersion,
    UsageRecord,
)
from billingd.errors import RuleViolation, ValidationError
from billingd.services import contracts, invoicing, parties, usage
from billingd.services.context import ServiceContext
from billingd.services.ledger import invariant_problems


def _setup(ctx: ServiceContext, **enterprise: object):  # type: ignore[no-untyped-def]
    e = parties.add_enterprise(
        ctx,
        name="Acme",
        currency="EUR",
        timezone="Europe/Berlin",
        tax_rate=Decimal("19"),
        **enterprise,
    )
    c = parties.add_client(ctx, name="Jane", enterprise_id=e.id, company="Example Ltd")
    return e, c


def test_migrate_is_idempotent_and_stamped(db: peewee.Database) -> None:
    assert current_version(db) == SCHEMA_VERSION
    assert migrate(db) == SCHEMA_VERSION
    assert SchemaVersion.select().count() == 1


def test_newer_schema_is_refused(db: peewee.Database) -> None:
    SchemaVersion.create(version=SCHEMA_VERSION + 1)
    with pytest.raises(SchemaError, match="newer"):
        migrate(db)


def test_r_aud_1_audit_trail_is_append_only(ctx: ServiceContext) -> None:
    _setup(ctx)
    event = AuditEvent.select().first()
    with pytest.raises(peewee.DatabaseError, match="append-only"), ctx_db_atomic():
        AuditEvent.update(actor="mallory").where(AuditEvent.id == event.id).execute()
    with pytest.raises(peewee.DatabaseError, match="append-only"), ctx_db_atomic():
        AuditEvent.delete().where(AuditEvent.id == event.id).execute()
    assert AuditEvent.get_by_id(event.id).actor == "tester"


def ctx_db_atomic():  # type: ignore[no-untyped-def]
    """A savepoint-free transaction so a refused statement does not poison the next one."""
    return AuditEvent._meta.database.atomic()


def test_r_money_1_amounts_round_trip_exactly(ctx: ServiceContext) -> None:
    _, client = _setup(ctx)
    usage.import_usage(
        ctx,
        [
            (
                2,
                {
                    "client": client.id,
                    "occurred_at": "2026-01-05T10:00:00Z",
                    "destination_group": "Mobile DE",
                    "quantity": "1",
                    "amount": "0.1000001",
                },
            )
        ],
    )
    stored = UsageRecord.get()
    assert stored.amount == Decimal("0.1000001")
    assert isinstance(stored.amount, Decimal)


def test_first_billing_flow_on_both_backends(ctx: ServiceContext) -> None:
    _enterprise, client = _setup(ctx, invoice_pattern="%num%/%year%", invoice_start=100001)
    contracts.add_contract(
        ctx,
        client_id=client.id,
        description="Hosted PBX",
        unit_price=Decimal("100.00"),
        cycle="month",
        start_date=dt.date(2026, 1, 1),
    )
    rows = [
        (
            2,
            {
                "client": client.id,
                "occurred_at": "2026-01-31T22:59:59.999Z",
                "destination_group": "Mobile DE",
                "quantity": "60",
                "amount": "0.12",
            },
        ),
        (
            3,
            {
                "client": client.id,
                "occurred_at": "2026-01-31T23:00:00Z",
                "destination_group": "Mobile DE",
                "quantity": "60",
                "amount": "5.00",
            },
        ),
    ]
    usage.import_usage(ctx, rows)
    result = invoicing.invoice_for_period(
        ctx,
        client_id=client.id,
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 1, 31),
        issue_date=dt.date(2026, 2, 1),
    )
    invoice = result.invoice
    assert invoice.number == "100001/2026"
    # 23:59:59.999 Berlin on Jan 31 is in; 00:00 on Feb 1 is not (R-TIME-2)
    assert invoice.subtotal == Decimal("100.12")
    assert invoice.tax == Decimal("19.02")
    assert invoice.total == Decimal("119.14")
    assert invoice.due_date == dt.date(2026, 2, 15)
    assert [line.kind for line in invoice.lines] == ["contract", "usage"]
    assert LedgerEntry.get(LedgerEntry.invoice == invoice).amount == Decimal("119.14")
    assert invariant_problems(client) == []
    assert AuditEvent.select().where(AuditEvent.event == "invoice.issued").count() == 1
    second = invoicing.invoice_for_amount(
        ctx,
        client_id=client.id,
        issue_date=dt.date(2026, 2, 2),
        amount=Decimal("50.00"),
        count=2,
    )
    assert [i.number for i in second] == ["100002/2026", "100003/2026"]


def test_r_inv_1_nothing_twice_and_refusals_write_nothing(ctx: ServiceContext) -> None:
    _, client = _setup(ctx)
    contracts.add_contract(
        ctx,
        client_id=client.id,
        description="PBX",
        unit_price=Decimal("10.00"),
        cycle="month",
        start_date=dt.date(2026, 1, 1),
    )
    period = dict(period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 1, 31))
    invoicing.invoice_for_period(ctx, client_id=client.id, **period)
    counts = (Invoice.select().count(), LedgerEntry.select().count(), AuditEvent.select().count())
    with pytest.raises(RuleViolation, match="nothing to invoice"):
        invoicing.invoice_for_period(ctx, client_id=client.id, **period)
    with pytest.raises(RuleViolation, match="exactly one"):
        invoicing.invoice_for_period(ctx, client_id=client.id, reseller_id=1, **period)
    after = (Invoice.select().count(), LedgerEntry.select().count(), AuditEvent.select().count())
    assert after == counts


def test_usage_import_bad_row_names_line_and_writes_nothing(ctx: ServiceContext) -> None:
    _, client = _setup(ctx)
    good = {
        "client": client.id,
        "occurred_at": "2026-01-05T10:00:00Z",
        "destination_group": "Mobile DE",
        "quantity": "1",
        "amount": "0.10",
    }
    with pytest.raises(ValidationError, match="line 4, quantity"):
        usage.import_usage(ctx, [(2, good), (3, good), (4, {**good, "quantity": "ten"})])
    with pytest.raises(ValidationError, match="line 3, client"):
        usage.import_usage(ctx, [(2, good), (3, {**good, "client": 999})])
    assert UsageRecord.select().count() == 0


def test_usage_external_id_makes_reimport_a_no_op(ctx: ServiceContext) -> None:
    _, client = _setup(ctx)
    row = {
        "client": client.id,
        "occurred_at": "2026-01-05T10:00:00+01:00",
        "destination_group": "Mobile DE",
        "quantity": "1",
        "amount": "0.10",
        "external_id": "cdr-1",
    }
    assert usage.import_usage(ctx, [(2, row)]).imported == 1
    again = usage.import_usage(ctx, [(2, row), (3, row)])
    assert (again.imported, again.duplicates) == (0, 2)
    assert UsageRecord.get().occurred_at == dt.datetime(2026, 1, 5, 9, 0)


def test_migration_steps_upgrade_an_existing_database(
    db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later release adds a step; an existing database is upgraded in place, data kept."""
    from playhouse.migrate import PostgresqlMigrator, SqliteMigrator
    from playhouse.migrate import migrate as apply

    from billingd.db import migrations
    from billingd.db.models import Brand

    Brand.create(name="Kept")
    migrator = (PostgresqlMigrator if "Postgres" in type(db).__name__ else SqliteMigrator)(db)

    def add_brand_slogan(database: peewee.Database) -> None:
        apply(migrator.add_column("brand", "slogan", peewee.TextField(null=True)))

    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(migrations.MIGRATIONS, SCHEMA_VERSION + 1, add_brand_slogan)
    try:
        assert migrations.migrate(db) == SCHEMA_VERSION + 1
        assert current_version(db) == SCHEMA_VERSION + 1
        assert "slogan" in {c.name for c in db.get_columns("brand")}
        assert Brand.get(Brand.name == "Kept")
        assert migrations.migrate(db) == SCHEMA_VERSION + 1  # idempotent once upgraded
    finally:  # the PostgreSQL test database is shared by the whole session
        apply(migrator.drop_column("brand", "slogan"))
