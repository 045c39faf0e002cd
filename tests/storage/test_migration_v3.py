"""Schema v3 (VAT categories and e-invoice details) upgrades a v2 database in place."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from playhouse.migrate import migrate as apply

from billingd.db import migrations
from billingd.db.migrations import SCHEMA_VERSION, current_version
from billingd.db.models import (
    BillGroup,
    Brand,
    Client,
    Contract,
    Enterprise,
    InvoiceLine,
    Reseller,
    SchemaVersion,
)
from billingd.domain import party_details as details
from billingd.services import contracts, invoicing, parties
from billingd.services.context import ServiceContext

V3_COLUMNS = {
    Brand: ("reminder_template", "layout"),
    Enterprise: details.ENTERPRISE_FIELDS,
    Client: details.PARTY_FIELDS,
    Reseller: details.PARTY_FIELDS,
    BillGroup: details.BILL_GROUP_FIELDS,
    Contract: details.CONTRACT_FIELDS,
    InvoiceLine: details.CATEGORY_FIELDS,
}


def test_v2_database_gains_the_v3_columns_and_zero_rated_lines(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    db = InvoiceLine._meta.database
    client = parties.add_client(ctx, name="Old client", enterprise_id=acme.id)
    for price, rate in (("5.00", "0"), ("10.00", "19")):
        contracts.add_contract(
            ctx, client_id=client.id, description="Line", unit_price=D(price),
            cycle="month", start_date=dt.date(2026, 1, 1), tax_rate=D(rate),
        )  # fmt: skip
    invoice = invoicing.invoice_for_period(
        ctx, client_id=client.id, issue_date=dt.date(2026, 2, 1),
        period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 1, 31),
    ).invoice  # fmt: skip
    migrator = migrations._migrator(db.obj)
    for model, columns in V3_COLUMNS.items():
        apply(*(migrator.drop_column(model._meta.table_name, column) for column in columns))
    SchemaVersion.delete().execute()
    SchemaVersion.create(version=2)
    assert current_version(db) == 2

    assert migrations.migrate(db) == SCHEMA_VERSION
    for model, columns in V3_COLUMNS.items():
        assert set(columns) <= {c.name for c in db.get_columns(model._meta.table_name)}
    lines = InvoiceLine.select(InvoiceLine.tax_rate, InvoiceLine.tax_category).where(
        InvoiceLine.invoice == invoice.id
    )
    # lines stored before v3 read back with the category their rate implies
    assert {(rate > 0, category) for rate, category in lines.tuples()} == {
        (False, "Z"),
        (True, "S"),
    }
