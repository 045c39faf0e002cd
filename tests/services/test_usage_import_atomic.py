"""Usage imports are all or nothing per file (SPEC §2, §12; issue 9, defects 10 and 11).

A file is staged chunk by chunk and stored in one transaction at the commit, so a
refused file, a killed billingctl or a killed daemon leaves nothing visible. An
external id is unique per client; a record again is a duplicate, other content under
its id a conflict. An operator can list a client's records and delete one that is not
invoiced yet, audited. Everything runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import pytest

from billingd.db.connection import open_database
from billingd.db.migrations import SCHEMA_VERSION, migrate
from billingd.db.models import (
    AuditEvent,
    Client,
    ImportRow,
    SchemaVersion,
    UsageImport,
    UsageImportRow,
    UsageRecord,
)
from billingd.errors import Conflict, NotFound, RuleViolation, ValidationError
from billingd.plugins import PluginError
from billingd.services import contracts, invoicing, parties, staging, usage
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon, billingctl, billingctl_ok

HEADER = "client,occurred_at,destination,destination_group,quantity,unit,amount,external_id\n"


def _setup(ctx: ServiceContext) -> tuple[int, int]:
    """An enterprise (Berlin) with two clients; their ids."""
    enterprise = parties.add_enterprise(
        ctx, name="Acme", currency="EUR", timezone="Europe/Berlin", tax_rate=Decimal("19")
    )
    jane = parties.add_client(ctx, name="Jane", enterprise_id=enterprise.id)
    joe = parties.add_client(ctx, name="Joe", enterprise_id=enterprise.id)
    return jane.id, joe.id


def _row(owner: int, n: int, **changes: Any) -> dict[str, Any]:
    return {
        "client": owner,
        "occurred_at": f"2026-01-05T10:{n % 60:02d}:00Z",
        "destination": "+4915112345678",
        "destination_group": "Mobile DE",
        "quantity": "60",
        "unit": "s",
        "amount": "0.12",
        "external_id": f"cdr-{n}",
        **changes,
    }


def _import_in_chunks(
    ctx: ServiceContext, rows: list[dict[str, Any]], chunk: int = 2000
) -> usage.ImportResult:
    """What billingctl does: begin, stage every chunk (lines from 2), commit."""
    token = usage.begin_import(ctx, source="usage.csv")
    numbered = list(enumerate(rows, start=2))
    for start in range(0, len(numbered), chunk):
        usage.stage_rows(ctx, token, numbered[start : start + chunk])
    return usage.commit_import(ctx, token)


def _nothing_staged() -> bool:
    return UsageImport.select().count() == 0 and UsageImportRow.select().count() == 0


# -- a refused file writes nothing -------------------------------------------------------


def test_spec_2_big_file_with_a_bad_last_row_writes_nothing(ctx: ServiceContext) -> None:
    jane, joe = _setup(ctx)
    rows = [_row((jane, joe)[n % 2], n) for n in range(20_000)]
    bad = [*rows[:-1], {**rows[-1], "client": 999}]
    with pytest.raises(ValidationError, match="line 20001, client: no client with id 999") as err:
        _import_in_chunks(ctx, bad)
    assert (err.value.data["line"], err.value.data["field"]) == (20001, "client")
    assert UsageRecord.select().count() == 0
    assert _nothing_staged()  # the refused chunk discarded the whole import
    assert not AuditEvent.select().where(AuditEvent.event == "usage.imported").exists()

    corrected = _import_in_chunks(ctx, rows)
    assert (corrected.imported, corrected.duplicates) == (20_000, 0)
    again = _import_in_chunks(ctx, rows)
    assert (again.imported, again.duplicates) == (0, 20_000)
    assert UsageRecord.select().count() == 20_000
    assert _nothing_staged()


def test_spec_2_every_bad_row_of_a_chunk_is_named(ctx: ServiceContext) -> None:
    jane, _ = _setup(ctx)
    rows = [
        _row(jane, 0),
        _row(jane, 1, quantity="ten"),
        _row(jane, 2, client=12345),
        _row(jane, 3, amount=""),  # unrated, and no plugin rates it
    ]
    with pytest.raises(ValidationError, match="line 3, quantity") as err:
        usage.import_usage(ctx, list(enumerate(rows, start=2)))
    assert [(e["line"], e["field"]) for e in err.value.data["errors"]] == [
        (3, "quantity"),
        (4, "client"),
        (5, "amount"),
    ]
    assert UsageRecord.select().count() == 0 and _nothing_staged()


def test_spec_2_a_staged_file_is_invisible_until_its_commit(ctx: ServiceContext) -> None:
    jane, _ = _setup(ctx)
    token = usage.begin_import(ctx)
    assert usage.stage_rows(ctx, token, [(2, _row(jane, 1)), (3, _row(jane, 2))]) == 2
    assert usage.stage_rows(ctx, token, [(4, _row(jane, 3))]) == 3
    assert UsageRecord.select().count() == 0
    assert usage.list_usage(jane) == []
    assert usage.commit_import(ctx, token).imported == 3
    assert [r.external_id for r in usage.list_usage(jane)] == ["cdr-1", "cdr-2", "cdr-3"]
    with pytest.raises(NotFound, match="no open usage import"):
        usage.commit_import(ctx, token)  # a commit is final


def test_spec_12_an_abandoned_stage_is_discarded_never_applied(ctx: ServiceContext) -> None:
    jane, _ = _setup(ctx)
    token = usage.begin_import(ctx)
    usage.stage_rows(ctx, token, [(2, _row(jane, 1))])
    with pytest.raises(NotFound):  # only the user who began an import continues it
        usage.stage_rows(ctx.acting_as("mallory"), token, [(3, _row(jane, 2))])
    with pytest.raises(NotFound):
        usage.commit_import(ctx.acting_as("mallory"), token)
    assert staging.discard_stale() == 0  # touched just now: still open
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + staging.STAGE_TTL + dt.timedelta(1)
    assert staging.discard_stale(now=later) == 1
    assert _nothing_staged() and UsageRecord.select().count() == 0
    with pytest.raises(NotFound, match="import the file again"):
        usage.commit_import(ctx, token)


@pytest.mark.parametrize("stored", [0, 1], ids=["all new", "one stored already"])
def test_spec_12_a_stage_that_lost_rows_is_never_committed(
    ctx: ServiceContext, stored: int
) -> None:
    """All new, the stage is stored at once and counted on the way; with an external id
    stored already, the commit goes the long way round and counts first."""
    jane, _ = _setup(ctx)
    if stored:
        usage.import_usage(ctx, [(2, _row(jane, 1))])
    token = usage.begin_import(ctx)
    usage.stage_rows(ctx, token, [(2, _row(jane, 1)), (3, _row(jane, 2)), (4, _row(jane, 3))])
    UsageImportRow.delete().where(UsageImportRow.line == 4).execute()
    with pytest.raises(Conflict, match="lost staged rows"):
        usage.commit_import(ctx, token)
    assert UsageRecord.select().count() == stored and _nothing_staged()


def test_spec_2_a_commit_drops_its_own_stage_and_keeps_another_open_one(
    ctx: ServiceContext,
) -> None:
    """The last open stage's rows are dropped all at once; others' rows stay."""
    jane, joe = _setup(ctx)
    first, second = usage.begin_import(ctx), usage.begin_import(ctx)
    usage.stage_rows(ctx, first, [(2, _row(jane, 1))])
    usage.stage_rows(ctx, second, [(2, _row(joe, 1)), (3, _row(joe, 2))])
    assert usage.commit_import(ctx, first).imported == 1
    assert UsageImportRow.select().count() == 2
    assert usage.commit_import(ctx, second).imported == 2
    assert _nothing_staged() and UsageRecord.select().count() == 3


def test_spec_2_abort_discards_the_stage(ctx: ServiceContext) -> None:
    jane, _ = _setup(ctx)
    token = usage.begin_import(ctx)
    usage.stage_rows(ctx, token, [(2, _row(jane, 1)), (3, _row(jane, 2))])
    assert staging.abort(ctx, token) == 2
    assert staging.abort(ctx, token) == 0
    assert _nothing_staged() and UsageRecord.select().count() == 0


def test_spec_2_one_call_is_limited_to_max_batch(ctx: ServiceContext) -> None:
    jane, _ = _setup(ctx)
    rows = [_row(jane, n) for n in range(usage.MAX_BATCH + 1)]
    with pytest.raises(ValidationError, match="at most 5000 records per call"):
        usage.import_usage(ctx, list(enumerate(rows, start=2)))
    assert UsageRecord.select().count() == 0 and _nothing_staged()


class _Rater:
    """A ``rate_usage`` plugin host: 0.01 a minute; it fails on group "Broken"."""

    def rate_usage(self, record: dict[str, Any]) -> Decimal:
        if record["destination_group"] == "Broken":
            raise PluginError("plugin 'rater' failed to rate usage record None: no tariff")
        return Decimal(record["quantity"]) / 60 * Decimal("0.01")


def test_spec_2_unrated_rows_are_rated_when_staged(ctx: ServiceContext) -> None:
    jane, _ = _setup(ctx)
    rated = dataclasses.replace(ctx, plugins=_Rater())
    result = usage.import_usage(rated, [(2, _row(jane, 1, amount="", quantity="120"))])
    assert result.imported == 1 and UsageRecord.get().amount == Decimal("0.02")
    broken = _row(jane, 2, amount="", destination_group="Broken")
    with pytest.raises(ValidationError, match="line 7, amount: plugin 'rater' failed"):
        usage.import_usage(rated, [(6, _row(jane, 3, amount="")), (7, broken)])
    assert UsageRecord.select().count() == 1 and _nothing_staged()


# -- external ids: unique per client, duplicates and conflicts --------------------------


def test_spec_2_external_id_unique_per_client_two_clients_may_share_cdr_1(
    ctx: ServiceContext,
) -> None:
    jane, joe = _setup(ctx)
    result = usage.import_usage(ctx, [(2, _row(jane, 1)), (3, _row(joe, 1))])
    assert (result.imported, result.duplicates) == (2, 0)
    owners = {r.client_id for r in UsageRecord.select().where(UsageRecord.external_id == "cdr-1")}
    assert owners == {jane, joe}


def test_spec_2_the_same_record_again_is_a_duplicate_in_the_store_and_in_the_file(
    ctx: ServiceContext,
) -> None:
    jane, _ = _setup(ctx)
    assert usage.import_usage(ctx, [(2, _row(jane, 1))]).imported == 1
    same = _row(jane, 1, quantity="60.00", occurred_at="2026-01-05T11:01:00+01:00")
    rows = [(2, same), (3, _row(jane, 2)), (4, _row(jane, 2)), (5, _row(jane, 3, external_id=""))]
    result = usage.import_usage(ctx, rows)
    assert (result.imported, result.duplicates) == (2, 2)
    assert UsageRecord.select().count() == 3


def test_spec_2_other_content_under_a_stored_external_id_is_a_conflict(
    ctx: ServiceContext,
) -> None:
    jane, _ = _setup(ctx)
    usage.import_usage(ctx, [(2, _row(jane, 1))])
    stored = UsageRecord.get()
    rows = [(2, _row(jane, 5)), (3, _row(jane, 1, amount="0.13", quantity="61"))]
    with pytest.raises(ValidationError, match="line 3, quantity: conflict") as err:
        usage.import_usage(ctx, rows)
    message = err.value.message
    assert "'cdr-1'" in message and f"usage record {stored.id}" in message
    assert "quantity, amount" in message
    assert UsageRecord.select().count() == 1 and _nothing_staged()
    assert UsageRecord.get().amount == Decimal("0.12")  # never silently replaced


def test_spec_2_other_content_under_an_external_id_earlier_in_the_file_is_a_conflict(
    ctx: ServiceContext,
) -> None:
    jane, _ = _setup(ctx)
    rows = [_row(jane, n) for n in range(4500)]
    rows.append(_row(jane, 7, destination="+33100000000"))  # line 4502, a later chunk
    with pytest.raises(ValidationError, match="line 4502, destination: conflict") as err:
        _import_in_chunks(ctx, rows)
    assert "on line 9" in err.value.message
    assert UsageRecord.select().count() == 0 and _nothing_staged()


# -- the contract column -----------------------------------------------------------------


def _pbx(ctx: ServiceContext, client_id: int):  # type: ignore[no-untyped-def]
    """A monthly contract of the client, from January 2026."""
    return contracts.add_contract(
        ctx,
        client_id=client_id,
        description="Hosted PBX",
        unit_price=Decimal("10.00"),
        cycle="month",
        start_date=dt.date(2026, 1, 1),
    )


def test_spec_2_usage_may_name_a_contract_of_its_client(ctx: ServiceContext) -> None:
    jane, joe = _setup(ctx)
    contract = _pbx(ctx, jane)
    usage.import_usage(ctx, [(2, _row(jane, 1, contract=str(contract.id)))])
    assert UsageRecord.get().contract_id == contract.id
    for line, row, message in (
        (
            2,
            _row(joe, 2, contract=contract.id),
            f"contract {contract.id} is not a contract of client {joe}",
        ),
        (2, _row(jane, 3, contract=99999), "no contract with id 99999"),
        (2, _row(jane, 4, contract="PBX"), "must be a contract id"),
    ):
        with pytest.raises(ValidationError, match=f"line {line}, contract: {message}"):
            usage.import_usage(ctx, [(line, row)])
    assert UsageRecord.select().count() == 1


def test_spec_2_another_contract_under_the_same_external_id_is_a_conflict(
    ctx: ServiceContext,
) -> None:
    jane, _ = _setup(ctx)
    contract = _pbx(ctx, jane)
    usage.import_usage(ctx, [(2, _row(jane, 1))])
    with pytest.raises(ValidationError, match="line 2, contract_id: conflict"):
        usage.import_usage(ctx, [(2, _row(jane, 1, contract=contract.id))])


# -- list and delete ----------------------------------------------------------------------


def _invoice_january(ctx: ServiceContext, client: int) -> invoicing.PeriodResult:
    return invoicing.invoice_for_period(
        ctx,
        client_id=client,
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 1, 31),
        issue_date=dt.date(2026, 2, 1),
    )


def test_r_inv_2_usage_delete_of_an_unbilled_record_is_audited(ctx: ServiceContext) -> None:
    jane, _ = _setup(ctx)
    usage.import_usage(ctx, [(2, _row(jane, 1)), (3, _row(jane, 2))])
    first = usage.list_usage(jane, external_id="cdr-1")[0]
    deleted = usage.delete_usage(ctx, first.id)
    assert deleted.id == first.id
    assert [r.external_id for r in usage.list_usage(jane)] == ["cdr-2"]
    event = AuditEvent.get(AuditEvent.event == "usage.deleted")
    assert (event.actor, event.client_id, event.subject_id) == ("tester", jane, first.id)
    assert event.details["record"]["external_id"] == "cdr-1"
    assert event.details["record"]["amount"] == "0.12"
    assert event.details["record"]["occurred_at"] == "2026-01-05T10:01:00Z"
    with pytest.raises(NotFound):
        usage.delete_usage(ctx, first.id)


def test_r_inv_2_usage_delete_of_an_invoiced_record_is_refused(ctx: ServiceContext) -> None:
    jane, _ = _setup(ctx)
    usage.import_usage(ctx, [(2, _row(jane, 1)), (3, _row(jane, 2))])
    invoice = _invoice_january(ctx, jane).invoice
    billed = UsageRecord.get(UsageRecord.external_id == "cdr-1")
    assert billed.invoice_id == invoice.id
    audit_before = AuditEvent.select().count()
    with pytest.raises(RuleViolation, match=f"billed on invoice {invoice.number}") as err:
        usage.delete_usage(ctx, billed.id)
    assert err.value.data["rule"] == "R-INV-2"
    assert UsageRecord.select().count() == 2 and AuditEvent.select().count() == audit_before
    assert usage.list_usage(jane, unbilled=True) == []


def test_r_inv_2_usage_delete_of_a_record_on_a_reseller_invoice_is_refused(
    ctx: ServiceContext,
) -> None:
    jane, _ = _setup(ctx)
    usage.import_usage(ctx, [(2, _row(jane, 1, occurred_at="2026-01-05T10:00:00Z"))])
    invoice = _invoice_january(ctx, jane).invoice
    usage.import_usage(ctx, [(2, _row(jane, 2, occurred_at="2026-03-05T10:00:00Z"))])
    record = UsageRecord.get(UsageRecord.external_id == "cdr-2")
    # as the reseller's invoice would claim it (R-RUN-16: once to each party)
    UsageRecord.update(reseller_invoice=invoice.id).where(UsageRecord.id == record.id).execute()
    with pytest.raises(RuleViolation, match="billed on invoice"):
        usage.delete_usage(ctx, record.id)
    assert UsageRecord.get_or_none(UsageRecord.id == record.id) is not None


def test_usage_list_filters_whole_days_in_the_enterprise_timezone(ctx: ServiceContext) -> None:
    jane, joe = _setup(ctx)
    times = ["2026-01-31T22:59:59Z", "2026-01-31T23:00:00Z", "2026-01-01T00:00:00Z"]
    usage.import_usage(ctx, [(n + 2, _row(jane, n, occurred_at=t)) for n, t in enumerate(times)])
    usage.import_usage(ctx, [(2, _row(joe, 9))])
    january = usage.list_usage(jane, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31))
    # Berlin: 23:00Z on Jan 31 is Feb 1; 00:00Z on Jan 1 is 01:00 on Jan 1
    assert [r.external_id for r in january] == ["cdr-2", "cdr-0"]
    assert [r.external_id for r in usage.list_usage(jane, start=dt.date(2026, 2, 1))] == ["cdr-1"]
    assert len(usage.list_usage(jane, end=dt.date(9999, 12, 31))) == 3
    assert len(usage.list_usage(jane, limit=1)) == 1
    with pytest.raises(ValidationError, match="before it starts"):
        usage.list_usage(jane, start=dt.date(2026, 2, 1), end=dt.date(2026, 1, 1))
    with pytest.raises(NotFound):
        usage.list_usage(424242)


# -- the schema: a migrated v1 database ends like a fresh one ---------------------------


def test_v2_migration_creates_the_staging_tables_like_a_fresh_database(
    db: peewee.Database,
) -> None:
    def shape() -> dict[str, Any]:
        return {
            table: (
                sorted((c.name, c.data_type, c.null) for c in db.get_columns(table)),
                sorted((i.name, tuple(i.columns), i.unique) for i in db.get_indexes(table)),
                sorted((f.column, f.dest_table, f.dest_column) for f in db.get_foreign_keys(table)),
            )
            for table in ("usage_import", "usage_import_row", "import_row")
        }

    fresh = shape()
    db.drop_tables([ImportRow, UsageImportRow, UsageImport])
    SchemaVersion.delete().execute()
    SchemaVersion.create(version=1)
    assert migrate(db) == SCHEMA_VERSION
    assert shape() == fresh


# -- through a real daemon and the real billingctl ---------------------------------------


@pytest.fixture
def live(database_url: str, short_dir: Path) -> Iterator[RunningDaemon]:
    """A real daemon on each backend; the test process reads the same database."""
    running = RunningDaemon(short_dir, database_url)
    open_database(database_url)
    yield running
    running.stop()


def _clients(daemon: RunningDaemon) -> tuple[int, int]:
    enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR")["id"]
    return tuple(  # type: ignore[return-value]
        daemon.call("client.add", name=name, enterprise=enterprise)["id"] for name in ("A", "B")
    )


def _write_file(path: Path, clients: tuple[int, ...], rows: int, last: str | None = None) -> Path:
    with path.open("w") as out:
        out.write(HEADER)
        for n in range(rows):
            client = clients[n % len(clients)]
            out.write(f"{client},2026-01-05T10:{n % 60:02d}:00Z,+49151,Mobile DE,60,s,0.12,c{n}\n")
        if last is not None:
            out.write(last)
    return path


def _wait_for_staged_rows(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while UsageImportRow.select().count() == 0:
        assert time.monotonic() < deadline, "nothing was staged in time"
        time.sleep(0.02)


def _billingctl_command(daemon: RunningDaemon, *args: str) -> list[str]:
    program = shutil.which("billingctl")
    command = [program] if program else [sys.executable, "-m", "billingd.ctl"]
    return [*command, "--socket", str(daemon.socket), *args]


def _billingctl_process(daemon: RunningDaemon, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _billingctl_command(daemon, "--json", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # over 2 s: 20,000 rows twice through billingctl
def test_spec_2_billingctl_refuses_a_big_file_with_a_bad_last_row_and_writes_nothing(
    live: RunningDaemon, tmp_path: Path
) -> None:
    clients = _clients(live)
    bad = _write_file(
        tmp_path / "usage.csv", clients, 20_000, "999,2026-01-05T10:00:00Z,x,G,1,s,1,z\n"
    )
    result = billingctl(live.socket, "usage", "import", str(bad))
    assert result.returncode == 1, result
    error = json.loads(result.stdout)["error"]
    assert error["message"].startswith("usage.csv: usage import refused, nothing imported")
    assert (error["data"]["line"], error["data"]["field"]) == (20_002, "client")
    assert UsageRecord.select().count() == 0
    assert live.call("usage.list", client=clients[0]) == []

    good = _write_file(tmp_path / "usage.csv", clients, 20_000)
    imported = billingctl_ok(live, "usage", "import", str(good))
    batches = imported.pop("batches")  # a plain CSV file goes as text: 512 KiB a chunk
    assert imported == {"imported": 20_000, "duplicates": 0}
    assert batches == -(-good.stat().st_size // (512 * 1024))
    again = billingctl_ok(live, "usage", "import", str(good))
    assert (again["imported"], again["duplicates"]) == (0, 20_000)
    assert UsageRecord.select().count() == 20_000


@pytest.mark.slow  # over 2 s: 60,000 rows, a killed billingctl
def test_spec_12_billingctl_killed_mid_import_leaves_nothing_visible(
    live: RunningDaemon, tmp_path: Path
) -> None:
    clients = _clients(live)
    path = _write_file(tmp_path / "usage.csv", clients, 60_000)
    process = _billingctl_process(live, "usage", "import", str(path))
    _wait_for_staged_rows()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert UsageImport.select().count() == 1  # the abandoned stage, invisible to billing
    assert UsageRecord.select().count() == 0
    assert live.call("usage.list", client=clients[0]) == []

    result = billingctl_ok(live, "usage", "import", str(path))
    assert (result["imported"], result["duplicates"]) == (60_000, 0)
    assert UsageRecord.select().count() == 60_000
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + staging.STAGE_TTL + dt.timedelta(1)
    assert staging.discard_stale(now=later) == 1
    assert _nothing_staged() and UsageRecord.select().count() == 60_000


@pytest.mark.slow  # over 2 s: 60,000 rows, a killed daemon
def test_spec_12_daemon_killed_mid_import_leaves_nothing_visible(
    live: RunningDaemon, database_url: str, tmp_path: Path
) -> None:
    clients = _clients(live)
    path = _write_file(tmp_path / "usage.csv", clients, 60_000)
    process = _billingctl_process(live, "usage", "import", str(path))
    _wait_for_staged_rows()
    live.process.send_signal(signal.SIGKILL)
    live.process.wait(timeout=30)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr  # the connection was lost
    live.stop()

    restarted = RunningDaemon(live.folder, database_url)
    try:
        assert restarted.call("usage.list", client=clients[0]) == []
        assert UsageRecord.select().count() == 0
        result = billingctl_ok(restarted, "usage", "import", str(path))
        assert (result["imported"], result["duplicates"]) == (60_000, 0)
    finally:
        restarted.stop()


def test_spec_9_usage_list_and_delete_through_billingctl(
    live: RunningDaemon, tmp_path: Path
) -> None:
    jane, _ = _clients(live)
    path = tmp_path / "usage.csv"
    path.write_text(
        HEADER
        + f"{jane},2026-01-05T10:00:00Z,+49151,Mobile DE,60,s,0.12,cdr-1\n"
        + f"{jane},2026-01-06T10:00:00Z,+49151,Mobile DE,60,s,0.12,cdr-2\n"
        + f"{jane},2026-03-06T10:00:00Z,+49151,Mobile DE,60,s,0.12,cdr-3\n"
    )
    billingctl_ok(live, "usage", "import", str(path))
    january = ("--from", "2026-01-01", "--to", "2026-01-31")
    listed = billingctl_ok(live, "usage", "list", "--client", str(jane), *january)
    assert [r["external_id"] for r in listed] == ["cdr-1", "cdr-2"]
    invoice = billingctl_ok(live, "invoice", "period", "--client", str(jane), *january)

    billed = listed[0]["id"]
    refused = billingctl(live.socket, "usage", "delete", str(billed))
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == 1002 and error["data"]["rule"] == "R-INV-2"

    (unbilled,) = billingctl_ok(live, "usage", "list", "--client", str(jane), "--unbilled")
    assert unbilled["external_id"] == "cdr-3" and unbilled["invoice_id"] is None
    deleted = billingctl_ok(live, "usage", "delete", str(unbilled["id"]))
    assert deleted["id"] == unbilled["id"]
    assert billingctl_ok(live, "usage", "list", "--client", str(jane), "--unbilled") == []
    (event,) = [e for e in live.call("audit.list") if e["event"] == "usage.deleted"]
    assert event["subject_id"] == unbilled["id"] and event["details"]["record"]["amount"] == "0.12"
    table = subprocess.run(
        _billingctl_command(live, "usage", "list", "--client", str(jane)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert table.returncode == 0, table.stderr
    header, _, first, _ = table.stdout.splitlines()
    assert header.split()[-3:] == ["amount", "external_id", "invoice_id"]
    assert first.split()[-2:] == ["cdr-1", str(invoice["id"])]


def test_spec_12_staged_import_methods_refuse_unknown_imports(live: RunningDaemon) -> None:
    reply = live.raw(
        b'{"jsonrpc": "2.0", "id": 1, "method": "usage.import_commit", '
        b'"params": {"import_id": "nope"}}\n'
    )
    assert reply["error"]["code"] == 1001
    assert live.call("usage.import_abort", import_id="nope") == {"discarded": 0}
    begun = live.call("usage.import_begin", source="x.csv")
    assert begun["max_records"] == usage.MAX_BATCH
    assert Client.select().count() == 0
