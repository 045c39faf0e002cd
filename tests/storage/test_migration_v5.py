"""Schema v5 (delivery: outbox, dunning, disputes, refunds, charge retries) upgrades a
populated v4 database in place."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from playhouse.migrate import migrate as apply

from billingd.db import migrations
from billingd.db.migrations import SCHEMA_VERSION, current_version
from billingd.db.models import (
    ChargeAttempt,
    DunningNotice,
    DunningPlan,
    Enterprise,
    Invoice,
    OutboxMessage,
    Payment,
    Refund,
    SchemaVersion,
)
from billingd.services import invoicing, parties, payments
from billingd.services.context import ServiceContext

V5_COLUMNS = {
    Invoice: ("dispute", "dunning_paused"),
    Payment: ("refunded",),
    ChargeAttempt: ("attempt", "failed_at", "retry_at"),
}
V5_TABLES = (DunningNotice, DunningPlan, OutboxMessage, Refund)


def test_v4_database_gains_the_v5_tables_and_columns(ctx: ServiceContext, acme: Enterprise) -> None:
    db = Invoice._meta.database
    client = parties.add_client(ctx, name="Old client", enterprise_id=acme.id)
    (invoice,) = invoicing.invoice_for_amount(
        ctx, issue_date=dt.date(2026, 1, 5), amount=D("119.00"), client_id=client.id
    )
    payment = payments.record_payment(ctx, client_id=client.id, amount=D("50.00"))
    db.drop_tables(list(V5_TABLES))
    for index in db.get_indexes(ChargeAttempt._meta.table_name):
        if set(index.columns) & set(V5_COLUMNS[ChargeAttempt]):
            db.execute_sql(f'DROP INDEX "{index.name}"')
    migrator = migrations._migrator(db.obj)
    for model, columns in V5_COLUMNS.items():
        apply(*(migrator.drop_column(model._meta.table_name, column) for column in columns))
    db.execute_sql('CREATE TABLE "notification" (id INTEGER PRIMARY KEY, event TEXT)')
    SchemaVersion.delete().execute()
    SchemaVersion.create(version=4)

    assert migrations.migrate(db) == SCHEMA_VERSION == current_version(db)
    for model, columns in V5_COLUMNS.items():
        assert set(columns) <= {c.name for c in db.get_columns(model._meta.table_name)}
    assert all(db.table_exists(model._meta.table_name) for model in V5_TABLES)
    assert not db.table_exists("notification")
    upgraded = Invoice.get_by_id(invoice.id)
    assert (upgraded.dispute, upgraded.dunning_paused, upgraded.balance) == ("", False, D("69.00"))
    assert Payment.get_by_id(payment.id).refunded == D("0")
    # the upgraded database takes the new rows: the payment's notice for the email notifier
    payments.record_payment(ctx, client_id=client.id, amount=D("1.00"))
    (notice,) = OutboxMessage.select()
    assert (notice.channel, notice.target, notice.event) == ("notify", "email", "payment.received")
