"""Schema versions and upgrades.

A new database is created from the current models and stamped with
``SCHEMA_VERSION``. An existing one is upgraded step by step: each change to the
models after a release adds a function to ``MIGRATIONS`` (from version N-1 to N)
using ``playhouse.migrate``, so operators never need to delete a database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import peewee
from playhouse import migrate as pm

from billingd.db.connection import is_postgres
from billingd.db.models import (
    ALL_MODELS,
    BillGroup,
    Brand,
    ChargeAttempt,
    Client,
    Contract,
    CreditNote,
    Document,
    DocumentJob,
    DunningNotice,
    DunningPlan,
    Enterprise,
    ImportRow,
    Invoice,
    InvoiceLine,
    OutboxMessage,
    Payment,
    Refund,
    Reseller,
    Run,
    SchemaVersion,
    UsageImport,
    UsageImportRow,
    UsageRecord,
)

SCHEMA_VERSION = 8


def _migrator(database: peewee.Database) -> pm.SchemaMigrator:
    kind = pm.PostgresqlMigrator if is_postgres(database) else pm.SqliteMigrator
    return kind(database)


def _sql_literal(value: Any) -> str:
    """A column default as SQL text: only the plain values model defaults are."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _add_columns(database: peewee.Database, *fields: peewee.Field) -> None:
    """Add each model field's column to its table, as the model declares it.

    On SQLite a NOT NULL column is added with its default in one ``ALTER TABLE``:
    peewee's migrator would add it nullable and then rebuild the table to forbid
    NULL, which the foreign keys of a populated database refuse.
    """
    migrator = _migrator(database)
    for f in fields:
        table = f.model._meta.table_name
        if f.column_name in {c.name for c in database.get_columns(table)}:
            continue
        if is_postgres(database) or f.null or f.default is None:
            pm.migrate(migrator.add_column(table, f.column_name, f))
            continue
        ctx = database.get_sql_context()
        column, params = ctx.sql(f.ddl(ctx)).query()
        default = _sql_literal(f.db_value(f.default() if callable(f.default) else f.default))
        database.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN {column} DEFAULT {default}', params)


def _v2_billing_correctness(database: peewee.Database) -> None:
    """Per-item billing: bill groups and billing dates on invoices, reseller schedules,
    usage claimed per party, credit-note VAT breakdown and reset, run leases, staged
    usage imports."""
    _add_columns(
        database,
        Enterprise.credit_note_reset,
        Reseller.invoice_days,
        UsageRecord.contract,
        UsageRecord.reseller_invoice,
        Invoice.billing_date,
        Invoice.bill_group,
        CreditNote.net,
        CreditNote.tax,
        CreditNote.tax_breakdown,
        Run.heartbeat_at,
    )
    table = UsageRecord._meta.table_name
    indexes = {index.name: index for index in database.get_indexes(table)}
    migrator = _migrator(database)
    for name, index in indexes.items():
        if index.columns == ["external_id"] and index.unique:
            pm.migrate(migrator.drop_index(table, name))
    # the models' new indexes: external ids unique per client, sequences' latest dates
    for model in (UsageRecord, Invoice, CreditNote):
        model._schema.create_indexes(safe=True)
    # staged usage imports: a file is stored all at once or not at all
    database.create_tables([UsageImport, UsageImportRow], safe=True)


def _v3_tax_categories(database: peewee.Database) -> None:
    """EN 16931: VAT categories on lines, contracts and parties, address parts and
    electronic addresses, e-invoice formats, brand layouts."""
    party_fields = ("postcode", "city", "country", "endpoint_id", "endpoint_scheme",
                    "tax_category", "exemption_reason", "einvoice_format", "language")  # fmt: skip
    _add_columns(
        database,
        Brand.reminder_template,
        Brand.layout,
        *(
            getattr(Enterprise, name)
            for name in (
                "postcode",
                "city",
                "country",
                "phone",
                "endpoint_id",
                "endpoint_scheme",
                "reverse_charge",
            )
        ),
        *(getattr(model, name) for model in (Client, Reseller) for name in party_fields),
        BillGroup.postcode,
        BillGroup.city,
        BillGroup.country,
        BillGroup.einvoice_format,
        Contract.tax_category,
        Contract.exemption_reason,
        InvoiceLine.tax_category,
        InvoiceLine.exemption_reason,
    )
    # lines issued before categories existed: zero-rated where no tax was charged
    zero = peewee.Cast(InvoiceLine.tax_rate, "REAL") == 0
    InvoiceLine.update(tax_category="Z").where(zero).execute()


def _v4_document_queue(database: peewee.Database) -> None:
    """Documents are rendered off the issuing transaction, through a durable queue:
    the job table, and the version each stored document belongs to."""
    _add_columns(database, Document.version)
    database.create_tables([DocumentJob], safe=True)


def _v5_delivery(database: peewee.Database) -> None:
    """Delivery: the outbox of emails, uploads, webhooks and notifications, dunning
    plans and notices, invoice disputes, refunds."""
    _add_columns(database, Invoice.dispute, Invoice.dunning_paused, Payment.refunded)
    _add_columns(database, ChargeAttempt.attempt, ChargeAttempt.failed_at, ChargeAttempt.retry_at)
    ChargeAttempt._schema.create_indexes(safe=True)
    database.create_tables([Refund, OutboxMessage, DunningPlan, DunningNotice], safe=True)
    # notices queued before the outbox existed had no reader: the outbox replaces them
    database.execute_sql('DROP TABLE IF EXISTS "notification"')


SEARCHED_COLUMNS = ("name", "company", "contract_number")
"""What ``client.list``'s search matches with ``ILIKE '%text%'``."""


def _search_indexes(database: peewee.Database) -> None:
    """PostgreSQL: a trigram index on each column a client search matches, so that a
    text few clients match is found without reading every client (100,000: 60-90 ms
    before); a text many match still takes the first page in id order. Left out where
    the pg_trgm extension cannot be had (the search then reads every row, as before).
    SQLite has no such index for ``LIKE '%text%'``: its scan of 100,000 clients takes
    20-45 ms."""
    if not is_postgres(database):
        return
    try:
        with database.atomic():  # a savepoint: a refusal leaves the migration going
            database.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except peewee.DatabaseError:
        return
    for column in SEARCHED_COLUMNS:
        database.execute_sql(
            f'CREATE INDEX IF NOT EXISTS "client_{column}_trgm" ON "client" '
            f'USING gin ("{column}" gin_trgm_ops)'
        )


def _v7_staged_party_imports(database: peewee.Database) -> None:
    """Client and contract files are staged chunk by chunk, like usage files; the
    contracts of an import are billed by one run over their clients."""
    _add_columns(database, UsageImport.kind, Run.clients)
    database.create_tables([ImportRow], safe=True)
    # a usage record's client is the first column of its (client, external_id) index
    database.execute_sql('DROP INDEX IF EXISTS "usage_record_client_id"')


def _v8_unindexed_usage_stage(database: peewee.Database) -> None:
    """A usage stage is read whole: its rows need no index, nor a foreign key (staging
    and the commit's delete cost half as much without them)."""
    table = UsageImportRow._meta.table_name
    if is_postgres(database):
        database.execute_sql(
            f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{table}_usage_import_id_fkey"'
        )
    elif database.get_foreign_keys(table):  # SQLite drops a constraint with its table
        database.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{table}_v7"')
        database.create_tables([UsageImportRow])
        names = ", ".join(f'"{f.column_name}"' for f in UsageImportRow._meta.sorted_fields)
        database.execute_sql(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{table}_v7"')
        database.execute_sql(f'DROP TABLE "{table}_v7"')
    database.execute_sql(
        'DROP INDEX IF EXISTS "usage_import_row_usage_import_id_client_id_external_id"'
    )


# version N -> function that upgrades a database from N-1 to N
MIGRATIONS: dict[int, Callable[[peewee.Database], None]] = {
    2: _v2_billing_correctness,
    3: _v3_tax_categories,
    4: _v4_document_queue,
    5: _v5_delivery,
    6: _search_indexes,
    7: _v7_staged_party_imports,
    8: _v8_unindexed_usage_stage,
}

_SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END""",
]
_POSTGRES_APPEND_ONLY = [
    """CREATE OR REPLACE FUNCTION billingd_audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit trail is append-only'; END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION billingd_audit_append_only()""",
]


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this version of billingd."""


def current_version(database: peewee.Database) -> int | None:
    """The stamped schema version, or None for an empty database."""
    if not database.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return int(row) if row is not None else None


def _protect_audit_trail(database: peewee.Database) -> None:
    statements = _POSTGRES_APPEND_ONLY if is_postgres(database) else _SQLITE_APPEND_ONLY
    for statement in statements:
        database.execute_sql(statement)


def migrate(database: peewee.Database) -> int:
    """Create or upgrade the schema to ``SCHEMA_VERSION``; return the version reached."""
    with database.atomic():
        version = current_version(database)
        if version is None:
            database.create_tables(ALL_MODELS)
            _protect_audit_trail(database)
            _search_indexes(database)
            SchemaVersion.create(version=SCHEMA_VERSION)
            return SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"database schema version {version} is newer than this billingd "
                f"supports ({SCHEMA_VERSION}); upgrade billingd"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[step](database)
            SchemaVersion.create(version=step)
        return SCHEMA_VERSION
