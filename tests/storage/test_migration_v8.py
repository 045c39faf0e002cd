"""Schema v8: a usage stage's rows lose their index and their foreign key (a stage is
written once and read whole; issue 13), rows staged before the upgrade kept."""

from __future__ import annotations

import datetime as dt

import peewee

from billingd.db import migrations
from billingd.db.migrations import SCHEMA_VERSION, current_version
from billingd.db.models import SchemaVersion, UsageImport, UsageImportRow
from billingd.services.context import ServiceContext

V7_INDEX = "usage_import_row_usage_import_id_client_id_external_id"


def _v7_stage_rows(db: peewee.Database) -> None:
    """The usage stage's table as schema v7 had it: a foreign key to its stage, and an
    index of (stage, client, external id)."""

    class V7Row(peewee.Model):
        usage_import = peewee.ForeignKeyField(UsageImport, on_delete="CASCADE", index=False)
        line = peewee.IntegerField()
        client_id = peewee.IntegerField()
        occurred_at = peewee.DateTimeField()
        destination = peewee.TextField(default="")
        destination_group = peewee.TextField()
        quantity = peewee.TextField()
        unit = peewee.TextField(default="")
        amount = peewee.TextField()
        external_id = peewee.TextField(null=True)
        contract_id = peewee.IntegerField(null=True)

        class Meta:
            database = db
            table_name = UsageImportRow._meta.table_name

    db.drop_tables([UsageImportRow])
    db.create_tables([V7Row])
    db.execute_sql(
        f'CREATE INDEX "{V7_INDEX}" ON "{V7Row._meta.table_name}" '
        '("usage_import_id", "client_id", "external_id")'
    )


def _indexes(db: peewee.Database, table: str) -> list[str]:
    """The table's indexes bar its primary key's (which PostgreSQL lists)."""
    return [index.name for index in db.get_indexes(table) if index.columns != ["id"]]


def test_v7_usage_stage_loses_its_index_and_foreign_key_keeping_its_rows(
    ctx: ServiceContext,
) -> None:
    db = UsageImportRow._meta.database.obj
    _v7_stage_rows(db)
    table = UsageImportRow._meta.table_name
    assert db.get_foreign_keys(table) and _indexes(db, table) == [V7_INDEX]
    stage = UsageImport.create(token="t", actor="a")
    when = dt.datetime(2026, 1, 5, 10)
    row = dict(client_id=7, occurred_at=when, destination_group="G", quantity="1", amount="2")
    UsageImportRow.create(usage_import=stage.id, line=2, **row)
    SchemaVersion.delete().execute()
    SchemaVersion.create(version=7)

    assert migrations.migrate(db) == SCHEMA_VERSION == current_version(db)
    assert db.get_foreign_keys(table) == [] and _indexes(db, table) == []
    (kept,) = UsageImportRow.select()
    assert (kept.usage_import, kept.line, kept.occurred_at) == (stage.id, 2, when)
