"""Usage files sent as CSV text (issue 13): the same rows stored, the same errors.

``usage.import_rows`` takes a chunk of a CSV file as its text. Plain rows are checked
at once by one expression; any other row sends its chunk through the row-by-row
checks. Either way a row is stored exactly as when sent as a record, and a bad row
refuses the file naming its line and column (SPEC §2).
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from billingd.db.models import UsageImport, UsageRecord
from billingd.domain.usage_rows import read_rows, validate_row
from billingd.errors import ValidationError
from billingd.services import contracts, parties, usage, usage_csv
from billingd.services.context import ServiceContext

HEADER = (
    "client",
    "occurred_at",
    "destination",
    "destination_group",
    "quantity",
    "unit",
    "amount",
    "external_id",
    "contract",
)


def _clients(ctx: ServiceContext) -> tuple[int, int, int]:
    """Two clients and a contract of the first; their ids."""
    enterprise = parties.add_enterprise(
        ctx, name="Acme", currency="EUR", timezone="Europe/Berlin", tax_rate=Decimal("19")
    )
    jane = parties.add_client(ctx, name="Jane", enterprise_id=enterprise.id)
    joe = parties.add_client(ctx, name="Joe", enterprise_id=enterprise.id)
    contract = contracts.add_contract(
        ctx,
        client_id=jane.id,
        description="Mobile",
        unit_price=Decimal("10"),
        cycle="month",
        start_date=dt.date(2026, 1, 1),
    )
    return jane.id, joe.id, contract.id


def _stored() -> list[tuple]:
    return list(UsageRecord.select(*usage.STORED).order_by(UsageRecord.id).tuples())


def _expected(text: str) -> list[tuple]:
    """What the row-by-row checks make of a file's rows, in the order they are stored:
    each client's together, in time order, then in file order."""
    rows = [validate_row(line, raw) for line, raw in read_rows(io.StringIO(text), "csv")]
    rows.sort(key=lambda r: (r.client_id, r.occurred_at))  # stable: file order after
    return [
        (
            r.client_id,
            r.occurred_at,
            r.destination,
            r.destination_group,
            r.quantity,
            r.unit,
            r.amount,
            r.external_id,
            r.contract_id,
        )
        for r in rows
    ]


def _import_text(ctx: ServiceContext, text: str, lines_per_chunk: int) -> usage.ImportResult:
    """What billingctl does with a plain file: its lines in chunks, after the header."""
    header, *lines = text.splitlines(keepends=True)
    token = usage.begin_import(ctx, source="usage.csv")
    for start in range(0, len(lines), lines_per_chunk):
        chunk = "".join(lines[start : start + lines_per_chunk])
        columns = header.strip().split(",")
        usage.stage_text(ctx, token, columns, chunk, first_line=2 + start)
    return usage.commit_import(ctx, token)


def test_spec_2_csv_text_stores_each_row_as_its_record_would_be(ctx: ServiceContext) -> None:
    jane, joe, contract = _clients(ctx)
    plain = "".join(
        f"{jane if n % 2 else joe},2026-01-0{1 + n % 9}T10:{n:02d}:00Z,+49151,Mobile DE,"
        f"{n}.5,s,0.{n:04d},cdr-{n},{contract if n % 2 else ''}\n"
        for n in range(40)
    )
    other = (  # rows the expression leaves to the row-by-row checks, stored all the same
        f"{jane},2026-01-05T12:00:00+02:00,x, Fixed DE ,007,s,1.50000000,off-1,\r\n"
        f"{joe},2026-01-05 12:00:00.250,,G,1,,0.1,,\n"
        "\n"
    )
    text = ",".join(HEADER) + "\n" + plain + other + plain.replace("cdr-", "again-")
    result = _import_text(ctx, text, lines_per_chunk=35)  # a plain chunk: 32 rows a statement
    assert (result.imported, result.duplicates) == (82, 0)
    assert _stored() == _expected(text)


def test_spec_2_plain_rows_are_matched_at_once_and_others_are_not() -> None:
    header = HEADER[:8]
    assert usage_csv.plain_rows(header, "7,2026-01-31T23:59:59Z,d,G,1.5,s,0.25,e\n") == [
        ("7", "2026-01-31", "23:59:59", "d", "G", "1.5", "s", "0.25", "e")
    ]
    for line in (
        "7,2026-02-30T10:00:00Z,d,G,1,s,1,e",  # no such day
        "7,2026-01-05T10:00:00+01:00,d,G,1,s,1,e",  # an offset: converted row by row
        "7,2026-01-05T10:00:00Z,d,G,1,s,,e",  # unrated: the plugin rates it
        "7,2026-01-05T10:00:00Z,d,G,1.0000001,s,1,e",  # over 6 places
        "07,2026-01-05T10:00:00Z,d,G,1,s,1,e",
        "7,2026-01-05T10:00:00Z,d,G ,1,s,1,e",
        '7,2026-01-05T10:00:00Z,"d",G,1,s,1,e',
        "7,2026-01-05T10:00:00Z,d,G,1,s,1",
    ):
        assert usage_csv.plain_rows(header, line + "\n") is None, line
    assert usage_csv.plain_rows(("client", "occurred_at"), "7,2026-01-05T10:00:00Z\n") is None


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ("{jane},2026-01-05T10:00:00Z,d,G,-1,s,1,e9", "quantity", "must not be negative"),
        ("999,2026-01-05T10:00:00Z,d,G,1,s,1,e9", "client", "no client with id 999"),
        ("{jane},2026-13-05T10:00:00Z,d,G,1,s,1,e9", "occurred_at", "not an ISO 8601 time"),
    ],
)
def test_spec_2_a_bad_row_in_csv_text_names_its_line_and_column_and_stages_nothing(
    ctx: ServiceContext, bad: str, field: str, message: str
) -> None:
    jane, _, _ = _clients(ctx)
    good = "".join(f"{jane},2026-01-05T10:00:00Z,d,G,1,s,1,e{n}\n" for n in range(5))
    token = usage.begin_import(ctx, source="usage.csv")
    usage.stage_text(ctx, token, HEADER[:8], good, first_line=2)
    with pytest.raises(ValidationError) as refused:
        usage.stage_text(ctx, token, HEADER[:8], good + bad.format(jane=jane), first_line=7)
    assert refused.value.data["line"] == 12
    assert refused.value.data["field"] == field
    assert message in refused.value.message
    assert UsageImport.select().count() == 0  # the stage is discarded
    assert UsageRecord.select().count() == 0


def test_spec_2_plain_rows_naming_a_contract_of_another_client_name_it(
    ctx: ServiceContext,
) -> None:
    """Plain rows are staged, then what they name is checked in one query: a contract
    not of the row's client sends the chunk row by row, which names it."""
    jane, joe, contract = _clients(ctx)
    good = "".join(f"{jane},2026-01-05T10:00:00Z,d,G,1,s,1,e{n},{contract}\n" for n in range(40))
    token = usage.begin_import(ctx, source="usage.csv")
    with pytest.raises(ValidationError) as refused:
        usage.stage_text(
            ctx, token, HEADER, good + f"{joe},2026-01-05T10:00:00Z,d,G,1,s,1,x,{contract}\n", 2
        )
    assert (refused.value.data["line"], refused.value.data["field"]) == (42, "contract")
    assert f"not a contract of client {joe}" in refused.value.message
    assert UsageImport.select().count() == 0 and UsageRecord.select().count() == 0
