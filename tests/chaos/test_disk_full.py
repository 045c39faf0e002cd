"""A full disk under the database and under the documents (issue 14, R-TX-1, R-RUN-9).

The disk is a small tmpfs mounted for the test and filled to the last byte. A write the
disk refuses is refused as ``disk full`` (1007, naming the database or the document
directory), never as an internal error; its transaction is rolled back whole, nothing
is left half-written (no partial batch, no partial or empty file), a run cut short is
recorded failed (never left "running"), and once there is space again the daemon goes
on without a restart: the next run bills the rest exactly once and every document is
rendered. The doctor checks the books after each fault.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from billingd.control.client import RemoteError
from billingd.db.connection import open_database
from billingd.db.faults import fault_of
from billingd.db.models import Client
from billingd.errors import DISK_FULL, DiskFull
from billingd.services import parties, runs
from billingd.services.context import ServiceContext
from tests.chaos.conftest import assert_doctor_clean, small_disk
from tests.chaos.servers import SmallDisk
from tests.conftest import RunningDaemon, billingctl, billingctl_ok
from tests.daemon.test_crash_recovery import (
    AS_OF,
    NUMBER_START,
    assert_exactly_once,
    daemons,  # noqa: F401 (the fixture)
    expected_periods,
    seed_clients,
    sqlite_count,
    wait_documents_rendered,
    wait_for,
    wait_run_done,
)
from tests.sqlite_template import migrated_sqlite


@pytest.fixture
def disk(request: pytest.FixtureRequest) -> SmallDisk:
    mounted = small_disk(getattr(request, "param", 16 << 20))
    request.addfinalizer(mounted.close)
    return mounted


def test_r_tx_1_a_write_the_full_disk_refuses_is_disk_full_rolled_back_and_goes_after(
    disk: SmallDisk,
) -> None:
    path = disk.path / "billing.db"
    database = open_database(migrated_sqlite(path))
    try:
        ctx = ServiceContext(actor="tester", data_dir=disk.path / "data")
        enterprise = parties.add_enterprise(ctx, name="Full Disk GmbH", currency="EUR")
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the next write grows it
        disk.fill()
        with pytest.raises(Exception) as refused:
            parties.add_client(ctx, name="Nowhere to go", enterprise_id=enterprise.id)
        fault = fault_of(refused.value)
        assert isinstance(fault, DiskFull), refused.value
        assert fault.code == DISK_FULL and str(path) in fault.message
        assert fault.message.startswith("disk full: no space left for the database")
        assert Client.select().count() == 0  # rolled back whole (R-TX-1)
        disk.free()
        parties.add_client(ctx, name="Room again", enterprise_id=enterprise.id)  # same thread
        assert [c.name for c in Client.select()] == ["Room again"]
    finally:
        database.close()


def test_a_document_the_full_disk_refuses_leaves_no_file(tmp_path: Path) -> None:
    from billingd.services.documents import write_file

    disk = small_disk(64 << 10, at=tmp_path / "documents")
    try:
        disk.fill()
        target = disk.path / "1" / "INV-1-1.pdf"
        target.parent.mkdir(exist_ok=True)  # a directory fits where a page no longer does
        with pytest.raises(OSError) as refused:
            write_file(target, b"%PDF-" + b"x" * 200_000)
        fault = fault_of(refused.value)
        assert isinstance(fault, DiskFull) and str(target.parent) in fault.message
        assert sorted(p.name for p in target.parent.iterdir()) == []  # no partial, no empty
    finally:
        disk.close()


@pytest.mark.slow
def test_r_run_9_database_disk_full_mid_run_fails_the_run_and_the_next_bills_the_rest(
    disk: SmallDisk,
    short_dir: Path,
    daemons: list[RunningDaemon],  # noqa: F811
) -> None:
    clients = 5 * runs.BATCH_SIZE
    path = disk.path / "billing.db"
    url = f"sqlite:///{path}"
    ids = seed_clients(url, clients)
    daemon = RunningDaemon(short_dir, url)
    daemons.append(daemon)
    run_id = daemon.call("run.start", until=AS_OF.isoformat())["id"]
    wait_for(
        lambda: sqlite_count(path, "SELECT COUNT(*) FROM invoice") >= runs.BATCH_SIZE,
        timeout=120,
        what="the first batch",
        step=0.01,
    )
    disk.fill()
    wait_for(lambda: f"run {run_id} failed: disk full" in daemon.log_text(), 60, "the fault")
    refused = billingctl(daemon.socket, "client", "add", "--name", "X", "--enterprise", "1")
    assert refused.returncode == 1, refused
    error = json.loads(refused.stdout)["error"]
    assert (error["code"], error["data"]["reason"]) == (DISK_FULL, "disk_full"), error
    assert str(path) in error["message"]
    health = billingctl_ok(daemon, "status")["scheduler"]
    assert health["last_error"].startswith(f"run {run_id}: disk full"), health

    disk.free()  # no restart: the same daemon goes on
    # the failure is recorded as soon as the disk lets it: never left "running"
    cut = wait_run_done(daemon, run_id, timeout=30)
    assert cut["status"] == "failed", cut
    assert cut["errors"][-1]["message"].startswith("disk full: no space left for the database")
    billed = sqlite_count(path, "SELECT COUNT(*) FROM invoice")
    assert billed % runs.BATCH_SIZE == 0 and billed < clients, "a batch was cut in half"
    assert cut["invoices"] == billed
    again = daemon.call("run.start", until=AS_OF.isoformat())
    finished = wait_run_done(daemon, again["id"], timeout=120)
    assert (finished["status"], finished["failures"]) == ("done", 0), finished
    assert finished["invoices"] == clients - billed
    assert billingctl_ok(daemon, "status")["scheduler"]["state"] == "ok"  # nothing stays dead
    wait_documents_rendered(url)
    assert_exactly_once(url, {cid: expected_periods(AS_OF, AS_OF) for cid in ids}, NUMBER_START)
    assert_doctor_clean(daemon)


@pytest.mark.slow
def test_r_inv_11_document_directory_full_renders_later_nothing_stray(
    short_dir: Path,
    daemons: list[RunningDaemon],  # noqa: F811
) -> None:
    clients = 200
    url = f"sqlite:///{short_dir / 'billing.db'}"
    ids = seed_clients(url, clients)
    documents = small_disk(32 << 20, at=short_dir / "data" / "documents")
    try:
        daemon = RunningDaemon(short_dir, url, extra_config="invoicing: manual\nclock: test\n")
        daemons.append(daemon)
        documents.fill()
        run = daemon.call("run.start", until=AS_OF.isoformat())
        finished = wait_run_done(daemon, run["id"], timeout=120)  # billing never waits
        assert (finished["status"], finished["invoices"]) == ("done", clients), finished

        def refused() -> list[tuple[str, str]]:
            with sqlite3.connect(short_dir / "billing.db") as con:
                rows = con.execute("SELECT state, error FROM document_job").fetchall()
            return rows if all(state == "failed" for state, _ in rows) else []

        jobs = wait_for(refused, 60, "every render refused", step=0.2)
        folder = str(short_dir / "data" / "documents")
        assert all(error.startswith("disk full: no space left for the directory " + folder)
                   for _, error in jobs), jobs[:3]  # fmt: skip
        assert [p.name for p in documents.path.rglob("*") if p.is_file()] == ["ballast"]
        documents.free()
        assert_doctor_clean(daemon)  # failed jobs waiting for their retry: no problem

        billingctl_ok(daemon, "clock", "advance", "10m")  # past the retries' backoff
        wait_documents_rendered(url, timeout=120)
        assert_exactly_once(url, {c: expected_periods(AS_OF, AS_OF) for c in ids}, NUMBER_START)
        assert_doctor_clean(daemon)
    finally:
        for running in daemons:
            running.stop()
        documents.close()


def test_disk_full_is_its_own_refusal_on_the_socket() -> None:
    """What a peer receives: code 1007, ``data.reason`` disk_full, ``data.path``."""
    fault = fault_of(OSError(28, "No space left on device", "/var/lib/billingd/documents/1/a.pdf"))
    assert isinstance(fault, DiskFull)
    error = RemoteError(fault.to_error())
    assert (error.code, error.data["reason"]) == (DISK_FULL, "disk_full")
    assert (
        error.data["path"]
        == "the directory /var/lib/billingd/documents/1 (No space left on device)"
    )
