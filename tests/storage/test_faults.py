"""billingd.db.faults: faults told from bugs, connections that recover (issue 14).

The daemon's threads each hold a connection of their own; these tests break one the
ways a server restart, a failed rollback or SQLite's own rollback on a full disk
break it, and check that the next transaction gets a working connection and that no
statement of a lost transaction runs outside it. The whole-daemon faults (a real
PostgreSQL restart, a full tmpfs) are in tests/chaos.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import peewee
import psycopg2
import pytest

from billingd.db.connection import open_database, write_transaction
from billingd.db.faults import Outage, TransactionLost, Unreachable, fault_of
from billingd.db.models import Enterprise
from billingd.errors import (
    DATABASE_UNAVAILABLE,
    DISK_FULL,
    DatabaseUnavailable,
    DiskFull,
    NotFound,
)
from billingd.services import parties
from billingd.services.context import ServiceContext
from tests.sqlite_template import migrated_sqlite


@pytest.fixture
def sqlite(tmp_path: Path) -> peewee.Database:
    database = open_database(migrated_sqlite(tmp_path / "billing.db"))
    yield database
    database.close()


def add_enterprise(name: str) -> Enterprise:
    return parties.add_enterprise(ServiceContext(actor="tester"), name=name, currency="EUR")


def test_faults_are_told_from_bugs_and_refusals() -> None:
    lost = peewee.InterfaceError(psycopg2.InterfaceError("connection already closed"))
    fault = fault_of(lost)
    assert isinstance(fault, DatabaseUnavailable) and fault.code == DATABASE_UNAVAILABLE
    assert "connection already closed" in fault.message
    # a rollback that fails after the connection was lost: found through its context
    try:
        try:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        except psycopg2.OperationalError:
            raise RuntimeError("rollback failed") from None
    except RuntimeError as exc:
        assert isinstance(fault_of(exc), DatabaseUnavailable)
    full = fault_of(OSError(28, "No space left on device", "/srv/docs/1/a.pdf"))
    assert isinstance(full, DiskFull) and full.code == DISK_FULL
    assert full.data["path"] == "the directory /srv/docs/1 (No space left on device)"
    for other in (
        peewee.IntegrityError("UNIQUE constraint failed"),
        ValueError("a bug"),
        NotFound("client 7 not found"),
        OSError(2, "No such file or directory"),
    ):
        assert fault_of(other) is None, other


def test_connecting_backs_off_after_a_failure_then_tries_again() -> None:
    outage = Outage()
    outage.check()  # nothing failed: at once
    outage.failed(peewee.OperationalError("connection refused"))
    with pytest.raises(Unreachable, match=r"connection refused \(next attempt in 0\.2"):
        outage.check()
    assert isinstance(fault_of(Unreachable("x")), DatabaseUnavailable)
    outage.cleared()
    outage.check()
    for _ in range(10):  # doubling, up to 5 s
        outage.failed(peewee.OperationalError("connection refused"))
    assert 4.9 < outage.retry_at - time.monotonic() <= 5.0


def test_a_connection_left_inside_a_transaction_is_replaced(sqlite: peewee.Database) -> None:
    add_enterprise("Before")
    stale = sqlite.connection()
    stale.execute("BEGIN IMMEDIATE")  # a rollback that failed left it holding the lock
    add_enterprise("After")  # this thread's next transaction: a new connection
    assert sqlite.connection() is not stale
    seen = []
    other = threading.Thread(target=lambda: seen.append(Enterprise.select().count()))
    other.start()
    other.join()
    assert seen == [2]  # committed, and no lock left behind for other threads


def test_r_tx_1_no_statement_of_a_transaction_sqlite_ended_runs_outside_it(
    sqlite: peewee.Database,
) -> None:
    with pytest.raises(TransactionLost) as lost, write_transaction():
        add_enterprise("Half")
        sqlite.connection().execute("ROLLBACK")  # as SQLite does itself on a full disk
        add_enterprise("Would be committed alone")
    assert isinstance(fault_of(lost.value), DatabaseUnavailable | DiskFull)
    assert Enterprise.select().count() == 0  # nothing half-written
    add_enterprise("Next")  # the thread goes on
    assert [e.name for e in Enterprise.select()] == ["Next"]


def terminate(url: str, pid: int) -> None:
    """End one session from another, as a server restart ends every session."""
    killer = open_database(url)
    killer.connect(reuse_if_open=True)
    killer.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
    killer.close()


@pytest.mark.slow  # PostgreSQL: ends its own sessions only, never the server
def test_a_postgresql_session_ended_by_the_server_is_replaced(pg_url: str) -> None:
    database = open_database(pg_url)
    try:
        pid = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        terminate(pg_url, pid)
        # a read outside a transaction reads again on a new session
        pid = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        terminate(pg_url, pid)
        with database.atomic():  # its BEGIN too: the session was idle, nothing lost
            pid = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        with pytest.raises(peewee.PeeweeException) as cut, database.atomic():
            terminate(pg_url, pid)  # in the middle of a transaction: it fails whole
            database.execute_sql("SELECT 1")
        assert isinstance(fault_of(cut.value), DatabaseUnavailable), cut.value
        with database.atomic():  # the next transaction: a new session
            assert database.execute_sql("SELECT pg_backend_pid()").fetchone()[0] != pid
    finally:
        database.close()
