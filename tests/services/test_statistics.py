"""The statistics file and the statistics document (seed 000 "Send stats", R-INV-2)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from typing import Any

import pypdf

from billingd.db.models import Client, Enterprise, Invoice, InvoiceLine
from billingd.services import contracts, documents, invoicing, parties, usage
from billingd.services.context import ServiceContext
from billingd.services.statistics import (
    GROUP_COLUMNS,
    RECORD_COLUMNS,
    invoice_statistics_csv,
    statistics_document,
)

Sections = list[list[list[str]]]


def sections(data: bytes) -> Sections:
    """The file's blocks (heading, records, totals), split at its empty rows."""
    blocks: Sections = [[]]
    for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")):
        if row:
            blocks[-1].append(row)
        else:
            blocks.append([])
    return blocks


def heading(data: bytes) -> dict[str, str]:
    return dict(sections(data)[0])


def records(data: bytes) -> list[dict[str, str]]:
    head, *rows = sections(data)[1]
    assert tuple(head) == RECORD_COLUMNS
    return [dict(zip(head, row, strict=True)) for row in rows]


def totals(data: bytes) -> tuple[list[dict[str, str]], list[str]]:
    head, *rows = sections(data)[2]
    assert tuple(head) == GROUP_COLUMNS
    *groups, grand = rows
    return [dict(zip(head, row, strict=True)) for row in groups], grand


def client_of(ctx: ServiceContext, enterprise: Enterprise, **fields: Any) -> Client:
    fields = {"name": "Jane Doe", "company": "Example Ltd", "contract_number": "C-1", **fields}
    return parties.add_client(ctx, enterprise_id=enterprise.id, **fields)


def add_usage(
    ctx: ServiceContext,
    client: Client,
    at_utc: str,
    amount: str,
    *,
    group: str = "Mobile DE",
    destination: str = "+4930123",
    quantity: str = "60",
    unit: str = "s",
) -> None:
    row = {
        "client": client.id,
        "occurred_at": at_utc,
        "destination": destination,
        "destination_group": group,
        "quantity": quantity,
        "unit": unit,
        "amount": amount,
    }
    usage.import_usage(ctx, [(2, row)])


def invoice_period(ctx: ServiceContext, client: Client, start: str, end: str) -> Invoice:
    result = invoicing.invoice_for_period(
        ctx,
        client_id=client.id,
        period_start=dt.date.fromisoformat(start),
        period_end=dt.date.fromisoformat(end),
        issue_date=dt.date.fromisoformat(end) + dt.timedelta(days=1),
    )
    assert result.invoice is not None
    return result.invoice


def test_r_inv_2_heading_names_the_invoice_the_client_and_the_period(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    client = client_of(ctx, acme)
    add_usage(ctx, client, "2026-03-10T09:00:00Z", "1.20")
    invoice = invoice_period(ctx, client, "2026-03-01", "2026-03-31")
    assert heading(invoice_statistics_csv(invoice)) == {
        "invoice": invoice.number,
        "issue_date": "2026-04-01",
        "client": "Jane Doe",
        "company": "Example Ltd",
        "contract_number": "C-1",
        "period_start": "2026-03-01",
        "period_end": "2026-03-31",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
    }


def test_r_inv_2_records_carry_the_local_offset_across_the_dst_change(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    """Berlin leaves summer time on 2026-10-25 at 01:00 UTC: 02:30 happens twice."""
    client = client_of(ctx, acme)
    for at in (
        "2026-11-03T13:05:00Z",
        "2026-10-24T12:00:00Z",
        "2026-10-25T00:30:00Z",
        "2026-10-25T01:30:00Z",
        "2026-10-31T22:59:59Z",
    ):
        add_usage(ctx, client, at, "0.10")
    invoice = invoice_period(ctx, client, "2026-10-01", "2026-11-30")
    assert [r["occurred_at"] for r in records(invoice_statistics_csv(invoice))] == [
        "2026-10-24T14:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-31T23:59:59+01:00",
        "2026-11-03T14:05:00+01:00",
    ]


def test_r_inv_2_group_totals_are_the_invoice_usage_lines(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    client = client_of(ctx, acme)
    rated = [
        ("Mobile DE", "0.0333333333", "61"),
        ("Mobile DE", "0.0333333333", "59"),
        ("Mobile DE", "1.005", "600"),
        ("Fixed DE", "0.015", "30"),
        ("Fixed DE", "0.015", "30"),
    ]
    for n, (group, amount, seconds) in enumerate(rated):
        add_usage(ctx, client, f"2026-05-0{n + 1}T08:00:00Z", amount, group=group, quantity=seconds)
    invoice = invoice_period(ctx, client, "2026-05-01", "2026-05-31")
    data = invoice_statistics_csv(invoice)
    groups, grand = totals(data)

    lines = [line for line in invoice.lines.order_by(InvoiceLine.position) if line.kind == "usage"]
    from_lines = [
        {
            "destination_group": line.description.split(" (")[0],
            "unit": line.unit,
            "records": re.search(r"\((\d+) records", line.description).group(1),  # type: ignore[union-attr]
            "quantity": str(line.quantity),
            "amount": str(line.net),
        }
        for line in lines
    ]
    assert sorted(groups, key=lambda g: g["destination_group"]) == sorted(
        from_lines, key=lambda g: g["destination_group"]
    )
    assert groups[1]["amount"] == "1.07"  # 1.0716666666 rounded once per group, like the line
    net = sum((line.net for line in lines), Decimal(0))
    assert grand == ["total", "", "5", "", str(net)]
    assert sum(Decimal(r["amount"]) for r in records(data)) == Decimal("1.1016666666")


def test_r_inv_2_text_cells_cannot_run_as_formulas(ctx: ServiceContext, acme: Enterprise) -> None:
    client = client_of(ctx, acme, name="=cmd|'/C calc'!A0", company="@SUM(1+1)")
    for destination in ('=HYPERLINK("http://x")', "+4930123", "-2+3", "@A1", "\tTAB", "\rCR"):
        add_usage(ctx, client, "2026-06-02T10:00:00Z", "0.50", destination=destination)
    add_usage(ctx, client, "2026-06-03T10:00:00Z", "0.50", group="=1+1", destination="ok")
    invoice = invoice_period(ctx, client, "2026-06-01", "2026-06-30")
    data = invoice_statistics_csv(invoice)

    assert heading(data)["client"] == "'=cmd|'/C calc'!A0"
    assert heading(data)["company"] == "'@SUM(1+1)"
    rows = records(data)
    assert [r["destination"] for r in rows] == [
        '\'=HYPERLINK("http://x")',
        "'+4930123",
        "'-2+3",
        "'@A1",
        "'\tTAB",
        "'\rCR",
        "ok",
    ]
    assert rows[-1]["destination_group"] == "'=1+1"
    assert {(r["quantity"], r["amount"]) for r in rows} == {("60", "0.50")}  # numbers as they are
    groups, _ = totals(data)
    assert [g["destination_group"] for g in groups] == ["'=1+1", "Mobile DE"]
    # the document is data for a renderer, not a spreadsheet: nothing is prefixed there
    document = statistics_document(invoice)
    assert document["records"][0]["destination"] == '=HYPERLINK("http://x")'


def test_r_inv_2_numbers_stay_numbers_beside_text_that_looks_like_one(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    """Amounts and quantities are numbers a spreadsheet sums; a destination that looks
    like a negative number (``-12.50``) is text and gets its quote
    (billingd.domain.csv_cells: numeric columns by name, text by rule)."""
    client = client_of(ctx, acme)
    add_usage(ctx, client, "2026-06-02T10:00:00Z", "10.00", destination="-12.50")
    add_usage(ctx, client, "2026-06-03T10:00:00Z", "12.50", unit="-1")
    data = invoice_statistics_csv(invoice_period(ctx, client, "2026-06-01", "2026-06-30"))
    rows = records(data)
    assert [(r["destination"], r["quantity"], r["unit"], r["amount"]) for r in rows] == [
        ("'-12.50", "60", "s", "10.00"),
        ("'+4930123", "60", "'-1", "12.50"),
    ]
    groups, grand = totals(data)
    assert [(g["unit"], g["records"], g["amount"]) for g in groups] == [
        ("'-1", "1", "12.50"),
        ("s", "1", "10.00"),
    ]
    assert grand == ["total", "", "2", "", "22.50"]


def test_r_inv_2_an_invoice_without_usage_has_a_heading_and_zero_totals(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    client = client_of(ctx, acme)
    contracts.add_contract(
        ctx,
        client_id=client.id,
        description="Hosted PBX",
        unit_price=Decimal("10.00"),
        cycle="month",
        start_date=dt.date(2026, 7, 1),
    )
    invoice = invoice_period(ctx, client, "2026-07-01", "2026-07-31")
    data = invoice_statistics_csv(invoice)
    assert heading(data)["invoice"] == invoice.number
    assert records(data) == []
    assert totals(data) == ([], ["total", "", "0", "", "0.00"])
    document = statistics_document(invoice)
    assert (document["records"], document["groups"]) == ([], [])
    assert document["totals"] == {"records": 0, "amount": "0.00"}


def test_r_inv_2_non_ascii_destinations_round_trip(ctx: ServiceContext, acme: Enterprise) -> None:
    client = client_of(ctx, acme, name="Jürgen Müller", company="Bäckerei Größe")
    add_usage(ctx, client, "2026-08-05T10:00:00Z", "0.20", destination="東京 03", group="Japón")
    invoice = invoice_period(ctx, client, "2026-08-01", "2026-08-31")
    data = invoice_statistics_csv(invoice)
    assert heading(data)["client"] == "Jürgen Müller"
    assert heading(data)["company"] == "Bäckerei Größe"
    (row,) = records(data)
    assert (row["destination"], row["destination_group"]) == ("東京 03", "Japón")
    assert totals(data)[0][0]["destination_group"] == "Japón"


def test_statistics_document_is_what_a_renderer_receives(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    client = client_of(ctx, acme)
    add_usage(ctx, client, "2026-10-25T01:30:00Z", "0.125", group="Mobile DE")
    add_usage(ctx, client, "2026-10-26T10:00:00Z", "2", group="Fixed DE", unit="min", quantity="3")
    invoice = invoice_period(ctx, client, "2026-10-01", "2026-10-31")
    document = statistics_document(invoice)
    json.dumps(document)  # JSON-safe: decimals and dates as text
    assert document["kind"] == "statistics"
    assert (document["number"], document["issue_date"]) == (invoice.number, "2026-11-01")
    assert (document["period_start"], document["period_end"]) == ("2026-10-01", "2026-10-31")
    assert document["currency"] == "EUR"
    assert document["bill_to"]["contract_number"] == "C-1"
    assert document["seller"]["name"] == "Acme"
    assert document["brand"]["name"] == "Acme" and "layout" in document["brand"]
    assert document["records"][0] == {
        "occurred_at": "2026-10-25T02:30:00+01:00",
        "destination": "+4930123",
        "destination_group": "Mobile DE",
        "quantity": "60",
        "unit": "s",
        "amount": "0.125",
    }
    assert document["groups"] == [
        {
            "destination_group": "Fixed DE",
            "unit": "min",
            "records": 1,
            "quantity": "3",
            "amount": "2.00",
        },
        {
            "destination_group": "Mobile DE",
            "unit": "s",
            "records": 1,
            "quantity": "60",
            "amount": "0.13",
        },
    ]
    assert document["totals"] == {"records": 2, "amount": "2.13"}


def test_r_inv_1_statistics_alone_name_the_client_and_period(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    client = client_of(ctx, acme)
    add_usage(ctx, client, "2026-02-28T22:59:59Z", "1.00")  # 23:59:59 local: inside
    add_usage(ctx, client, "2026-02-28T23:00:00Z", "9.00")  # March 1st local: outside
    result = invoicing.invoice_for_period(
        ctx,
        client_id=client.id,
        period_start=dt.date(2026, 2, 1),
        period_end=dt.date(2026, 2, 28),
        stats=True,
        document=False,
    )
    assert result.invoice is None and result.statistics is not None
    head = heading(result.statistics)
    assert (head["invoice"], head["issue_date"]) == ("", "")
    assert (head["client"], head["period_start"], head["period_end"]) == (
        "Jane Doe",
        "2026-02-01",
        "2026-02-28",
    )
    assert [r["amount"] for r in records(result.statistics)] == ["1.00"]
    assert totals(result.statistics)[1] == ["total", "", "1", "", "1.00"]


def test_r_inv_3_a_reseller_invoice_lists_its_clients_records(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    reseller = parties.add_reseller(ctx, name="Channel", enterprise_id=acme.id)
    for name in ("One", "Two"):
        client = client_of(ctx, acme, name=name, reseller_id=reseller.id)
        add_usage(ctx, client, "2026-09-10T10:00:00Z", "1.00")
    result = invoicing.invoice_for_period(
        ctx,
        reseller_id=reseller.id,
        period_start=dt.date(2026, 9, 1),
        period_end=dt.date(2026, 9, 30),
    )
    assert result.invoice is not None
    data = invoice_statistics_csv(result.invoice)
    assert heading(data)["client"] == "Channel"
    assert len(records(data)) == 2
    assert totals(data)[1] == ["total", "", "2", "", "2.00"]


def test_r_inv_2_statistics_pdf_is_the_table_of_records_and_groups(
    ctx: ServiceContext, acme: Enterprise
) -> None:
    """The statistics file as a PDF table (seed 000 "Send stats"): ``--format stats-pdf``."""
    client = client_of(ctx, acme, send_stats=True)
    add_usage(ctx, client, "2026-10-05T08:00:00Z", "0.50", group="Mobile DE")
    add_usage(ctx, client, "2026-10-06T09:00:00Z", "1.25", group="Festnetz Österreich")
    invoice = invoice_period(ctx, client, "2026-10-01", "2026-10-31")
    assert documents.formats_for(invoice) == ["pdf", "stats-csv"]
    pdf = documents.render_as(ctx, invoice, "stats-pdf")
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    for expected in (
        invoice.number, "Example Ltd", "2026-10-01", "2026-10-31", "Mobile DE",
        "Festnetz Österreich", "+4930123", "0.50", "1.25", "1.75",
    ):  # fmt: skip
        assert expected in text, expected
