"""Exactly once across crashes and between daemons (R-RUN-9, R-NUM-3), end to end.

Real ``billingd serve`` processes are killed with SIGKILL in the middle of a run and
restarted; two daemons share one PostgreSQL database and start a run at the same
moment. Afterwards every client has exactly one invoice per billing period, none
is missing, the numbers form one gapless sequence, and every invoice is whole:
lines, a PDF document, a ledger that adds up.

The clients are seeded straight through the service layer in this process (one
transaction, seconds for thousands) before the daemon starts, with contracts of
origin ``standard`` so that they are back-billed like any operator-made contract.
"""

from __future__ import annotations

import datetime as dt
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billingd.db.connection import open_database, write_transaction
from billingd.db.migrations import migrate
from billingd.db.models import BilledCycle, Client, Document, DocumentJob, Invoice, InvoiceLine
from billingd.services import contracts, ledger, parties
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon, _empty_postgres

AS_OF = dt.date(2026, 3, 1)  # the runs bill everything due on or before this day
NUMBER_START = 5001


def seed_clients(
    url: str,
    count: int,
    *,
    start: Callable[[int], dt.date] = lambda n: AS_OF,
    number_start: int = NUMBER_START,
    empty_first: bool = False,
) -> list[int]:
    """One enterprise and ``count`` clients with one monthly advance contract each.

    ``start(n)`` gives the n-th contract's start date. Everything is written in ONE
    transaction, straight through the services, in this process.
    """
    database = open_database(url)
    if empty_first:
        _empty_postgres(database)
    else:
        migrate(database)
    ctx = ServiceContext(actor="seed")
    ids = []
    with write_transaction():
        enterprise = parties.add_enterprise(
            ctx,
            name="Crash Test GmbH",
            currency="EUR",
            timezone="Europe/Berlin",
            tax_rate=Decimal(19),
            invoice_start=number_start,
        )
        for n in range(count):
            client = parties.add_client(ctx, name=f"Client {n:05d}", enterprise_id=enterprise.id)
            contracts.add_contract(
                ctx,
                client_id=client.id,
                description="Hosted PBX",
                unit_price=Decimal("49.90"),
                cycle="month",
                start_date=start(n),
                timing="advance",
            )
            ids.append(client.id)
    database.close()
    return ids


def expected_periods(start: dt.date, as_of: dt.date) -> list[dt.date]:
    """Cycle starts of a monthly advance contract due on or before ``as_of``."""
    found = []
    day = start
    while day <= as_of:
        found.append(day)
        day = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=start.day)
    return found


def wait_for(check: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def sqlite_count(path: Path, sql: str) -> int:
    """A read straight from the daemon's SQLite file (WAL lets it run beside the writer)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as con:
        return con.execute(sql).fetchone()[0]


def wait_run_done(daemon: RunningDaemon, run_id: int, timeout: float) -> dict[str, Any]:
    """The run as ``run.show`` gives it once it is no longer running."""

    def ended() -> dict[str, Any] | None:
        run = daemon.call("run.show", id=run_id)
        return run if run["status"] != "running" else None

    return wait_for(ended, timeout, f"run {run_id} to finish", step=0.2)


def wait_documents_rendered(url: str, timeout: float = 180) -> None:
    """Documents are rendered after the commits (R-INV-11): wait for the daemons' queue
    (jobs a killed daemon left rendering are taken up by the next)."""
    database = open_database(url)
    try:
        unfinished = DocumentJob.select().where(DocumentJob.state != "ready")
        wait_for(lambda: not unfinished.exists(), timeout, "the documents", step=0.2)
    finally:
        database.close()


def assert_exactly_once(url: str, expected: dict[int, list[dt.date]], number_start: int) -> None:
    """One whole invoice per client and period, none missing, numbers gapless (R-RUN-9)."""
    database = open_database(url)
    try:
        invoices = list(
            Invoice.select(
                Invoice.id, Invoice.client, Invoice.period_start, Invoice.number, Invoice.status
            )
        )
        keys = Counter((i.client_id, i.period_start) for i in invoices)
        duplicates = {k: n for k, n in keys.items() if n > 1}
        assert not duplicates, (
            f"{len(duplicates)} duplicated (client, period): {list(duplicates)[:5]}"
        )
        wanted = {(client, period) for client, periods in expected.items() for period in periods}
        assert set(keys) == wanted, (
            f"missing {sorted(wanted - set(keys))[:5]}, unexpected {sorted(set(keys) - wanted)[:5]}"
        )
        numbers = sorted(int(i.number) for i in invoices)
        assert numbers == list(range(number_start, number_start + len(wanted))), (
            "numbers not gapless"
        )
        assert {i.status for i in invoices} == {"open"}
        with_lines = {
            row.invoice_id
            for row in InvoiceLine.select(InvoiceLine.invoice).where(InvoiceLine.kind == "contract")
        }
        assert with_lines == {i.id for i in invoices}, "an invoice without its contract line"
        pdfs = list(
            Document.select().where((Document.format == "pdf") & Document.invoice.is_null(False))
        )
        assert Counter(d.invoice_id for d in pdfs) == Counter({i.id: 1 for i in invoices}), (
            "an invoice without exactly one PDF document row"
        )
        assert all(Path(d.path).stat().st_size > 0 for d in pdfs)
        assert all(Path(d.path).read_bytes()[:5] == b"%PDF-" for d in pdfs[:: len(pdfs) // 20])
        claims = list(BilledCycle.select(BilledCycle.invoice))
        assert len(claims) == len(wanted), "a cycle claimed twice, or one billed without its claim"
        assert Counter(c.invoice_id for c in claims) == Counter({i.id: 1 for i in invoices}), (
            "an invoice without its cycle claim, or a claim without its invoice"
        )
        ids = sorted(expected)
        for client_id in ids[:: max(1, len(ids) // 40)]:
            assert ledger.invariant_problems(Client.get_by_id(client_id)) == []
    finally:
        database.close()


@pytest.fixture
def daemons() -> Iterator[list[RunningDaemon]]:
    """Daemons started by a test; any still running are stopped afterwards."""
    started: list[RunningDaemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def _kill(daemon: RunningDaemon) -> None:
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(timeout=10)
    if daemon._client is not None:
        daemon._client.close()
        daemon._client = None
    daemon.log.close()


@pytest.mark.slow
def test_r_run_9_r_num_3_sigkill_mid_run_and_restart_bills_each_period_once(
    short_dir: Path, daemons: list[RunningDaemon]
) -> None:
    clients = 2000
    # Every 10th client owes three invoices, so a crash may also cut into a client's catch-up.
    starts = {n: (dt.date(2026, 1, 1) if n % 10 == 0 else AS_OF) for n in range(clients)}
    path = short_dir / "billing.db"
    url = f"sqlite:///{path}"
    began = time.monotonic()
    ids = seed_clients(url, clients, start=starts.__getitem__)
    seeded = time.monotonic() - began
    expected = {cid: expected_periods(starts[n], AS_OF) for n, cid in enumerate(ids)}
    total = sum(len(p) for p in expected.values())
    assert total == 1800 + 200 * 3

    kills = []
    run_ids = []
    for fraction in (0.10, 0.40, 0.70, None):
        daemon = RunningDaemon(short_dir, url)
        daemons.append(daemon)
        if run_ids:  # the run the previous process was in is marked as cut short
            assert daemon.call("run.show", id=run_ids[-1])["status"] == "interrupted"
        run = daemon.call("run.start", until=AS_OF.isoformat())
        run_ids.append(run["id"])
        if fraction is None:
            finished = wait_run_done(daemon, run["id"], timeout=150)
            break
        target = int(total * fraction)
        wait_for(
            lambda n=target: sqlite_count(path, "SELECT COUNT(*) FROM invoice") >= n,
            timeout=120,
            what=f"{target} invoices",
            step=0.02,
        )
        _kill(daemon)
        kills.append(sqlite_count(path, "SELECT COUNT(*) FROM invoice"))
        daemons.remove(daemon)
    elapsed = time.monotonic() - began

    assert finished["status"] == "done" and finished["failures"] == 0, finished
    assert finished["invoices"] == total - kills[-1]
    assert kills == sorted(kills) and kills[0] >= total // 10
    wait_documents_rendered(url)
    assert_exactly_once(url, expected, NUMBER_START)
    print(
        f"\nseeded {clients} clients in {seeded:.1f}s; {total} invoices with "
        f"3 SIGKILLs at {kills} in {elapsed:.1f}s overall"
    )


@pytest.mark.slow
def test_r_run_9_two_daemons_on_one_postgresql_start_together(
    pg_url: str, short_dir: Path, daemons: list[RunningDaemon]
) -> None:
    clients = 300
    starts = {n: (dt.date(2026, 1, 1) if n % 5 == 0 else AS_OF) for n in range(clients)}
    ids = seed_clients(pg_url, clients, start=starts.__getitem__, empty_first=True)
    expected = {cid: expected_periods(starts[n], AS_OF) for n, cid in enumerate(ids)}
    for name in ("a", "b"):
        (short_dir / name).mkdir()
        daemons.append(RunningDaemon(short_dir / name, pg_url))
    barrier = threading.Barrier(len(daemons))
    started: dict[int, dict[str, Any]] = {}

    def start(index: int) -> None:
        barrier.wait(timeout=10)
        started[index] = daemons[index].call("run.start", until=AS_OF.isoformat())

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(daemons))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(started) == 2
    finished = [wait_run_done(d, started[i]["id"], timeout=150) for i, d in enumerate(daemons)]
    assert [r["status"] for r in finished] == ["done", "done"]
    assert sum(r["failures"] for r in finished) == 0, finished
    total = sum(len(p) for p in expected.values())
    assert sum(r["invoices"] for r in finished) == total, finished
    # Both really worked side by side: the slots were shared out, not billed twice.
    assert all(r["invoices"] > 0 for r in finished), finished
    print(f"\ntwo daemons billed {[r['invoices'] for r in finished]} of {total} invoices")
    wait_documents_rendered(pg_url)
    assert_exactly_once(pg_url, expected, NUMBER_START)
