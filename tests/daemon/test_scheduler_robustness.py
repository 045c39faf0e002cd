"""The scheduler never dies, runs never stay "running", failing clients are parked,
creation-triggered billing coalesces (issue 9, defects 11, 13, 14; R-RUN-10, R-RUN-11,
R-RUN-14).

The two triggers of defect 11 are reproduced through a real daemon and the real
``billingctl``: a review window of 10^9 days and a test clock at 9999-12-31T23:00. Both
values are refused now; one stored before the bounds existed (written straight into
the database here) makes the next run fail — recorded on the run, reported by
``status`` — and the scheduler goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billingd.control.registry import METHODS
from billingd.db.connection import open_database
from billingd.db.models import BillGroup, ClockState, ParkedClient, Run, RunError
from billingd.scheduler import MARK_SECONDS
from billingd.services import contracts, parties, runs
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ctl
from tests.daemon.test_crash_recovery import wait_for

MANUAL = "invoicing: manual\ntimezone: UTC\n"
TEST_CLOCK = "clock: test\ninvoicing: auto\ntimezone: UTC\n"


@pytest.fixture
def spawn(database_url: str, short_dir: Path) -> Iterator[Callable[..., RunningDaemon]]:
    """Start daemons on the test's database (SQLite and PostgreSQL in turn)."""
    started: list[RunningDaemon] = []

    def start(extra_config: str = MANUAL) -> RunningDaemon:
        folder = short_dir / f"d{len(started)}"
        folder.mkdir()
        daemon = RunningDaemon(folder, database_url, extra_config)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def refused(daemon: RunningDaemon, *args: str) -> dict[str, Any]:
    result = billingctl(daemon.socket, *args)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)["error"]


def seed_client(daemon: RunningDaemon, start: str = "2026-01-01") -> tuple[int, int]:
    """An enterprise and a client with a monthly advance contract: (client, bill group)."""
    company = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    client = daemon.call("client.add", name="Jane", enterprise=company["id"])
    daemon.call(
        "contract.add",
        client=client["id"],
        description="Hosted PBX",
        price="100.00",
        cycle="month",
        start=start,
    )
    (group,) = daemon.call("billgroup.list", client=client["id"])
    return client["id"], group["id"]


def scheduler_state(daemon: RunningDaemon) -> dict[str, Any]:
    return ctl(daemon, "status")["scheduler"]


# -- defect 11: one accepted value stopped all billing, silently -----------------------


def test_r_run_10_review_window_overflow_fails_the_run_not_the_scheduler(
    spawn: Callable[..., RunningDaemon], database_url: str
) -> None:
    daemon = spawn()
    client, group = seed_client(daemon)
    assert scheduler_state(daemon) == {"state": "ok", "last_error": None, "last_error_at": None}
    audit = len(daemon.call("audit.list", limit=5000))

    # The trigger is refused now, naming the field, and nothing is written.
    error = refused(daemon, "billgroup", "update", str(group), "--review-days", "1000000000")
    assert error["code"] == -32602 and error["data"]["field"] == "review_days"
    assert "from 0 to 365 days" in error["message"]
    assert daemon.call("billgroup.list", client=client)[0]["review_days"] == 0
    assert len(daemon.call("audit.list", limit=5000)) == audit
    ctl(daemon, "billgroup", "update", str(group), "--review-days", "365")  # the largest

    # A value stored before the bound existed: the run fails, recorded on the run.
    db = open_database(database_url)
    BillGroup.update(review_days=10**9).where(BillGroup.id == group).execute()
    db.close()  # the test's own connection holds no lock while the daemon runs
    started = time.monotonic()
    failed = ctl(daemon, "run", "--until", "2026-03-01")  # it used to hang here
    assert time.monotonic() - started < 20
    assert failed["status"] == "failed"
    assert failed["errors"][-1]["client_id"] is None
    assert "OverflowError" in failed["errors"][-1]["message"]
    assert failed["finished_at"] is not None
    health = scheduler_state(daemon)
    assert health["state"] == "failing"
    assert "OverflowError" in health["last_error"] and f"run {failed['id']}" in health["last_error"]
    assert health["last_error_at"].endswith("Z")
    log = daemon.log_text()
    assert f"run {failed['id']} failed" in log and "Traceback" in log
    audited = [a for a in daemon.call("audit.list") if a["event"] == "run.finished"]
    assert audited[0]["details"]["status"] == "failed"

    # The scheduler goes on: the next run, with the window fixed, issues the drafts.
    ctl(daemon, "billgroup", "update", str(group), "--review-days", "0")
    again = ctl(daemon, "run")  # as of today: the drafts' windows have ended
    assert again["status"] == "done" and again["errors"] == [], again["errors"]
    assert {i["status"] for i in daemon.call("invoice.list", client=client)} == {"open"}
    assert scheduler_state(daemon)["state"] == "ok"
    assert scheduler_state(daemon)["last_error"] == health["last_error"]  # kept on record


def test_r_run_15_clock_at_year_9999_never_kills_the_scheduler(
    spawn: Callable[..., RunningDaemon], database_url: str
) -> None:
    daemon = spawn(TEST_CLOCK)
    error = refused(daemon, "clock", "set", "9999-12-31T23:00")
    assert error["code"] == -32602 and error["data"]["field"] == "to"
    assert "2199-12-31" in error["message"]
    assert "longer than" in refused(daemon, "clock", "advance", "99999999999w")["message"]
    daemon.stop()

    # A clock stored before the bound existed: the daemon starts, serves, and says so.
    open_database(database_url)
    ClockState.update(now=dt.datetime(9999, 12, 31, 23, 0)).execute()
    daemon = spawn(TEST_CLOCK)
    status = wait_for(
        lambda: (s := ctl(daemon, "status"))["scheduler"]["state"] == "failing" and s,
        10,
        "the scheduler to report its failure",
    )
    assert status["now"] == "9999-12-31T23:00:00Z" and status["next_run"] is None
    assert "date value out of range" in status["scheduler"]["last_error"]
    assert "Traceback" in daemon.log_text()
    # Billing goes on once the clock is sane (no document yet: it may move backwards).
    moved = ctl(daemon, "clock", "set", "2030-01-01T00:00Z")
    assert moved["next_run"] == "2030-01-01T02:00:00Z"
    wait_for(lambda: scheduler_state(daemon)["state"] == "ok", 10, "the scheduler to recover")
    client, _ = seed_client(daemon, start="2030-01-01")
    wait_for(lambda: daemon.call("invoice.list", client=client), 10, "the contract's invoice")


# -- the systemd watchdog starves when the scheduler is dead ----------------------------


def test_watchdog_is_not_fed_once_the_scheduler_is_dead(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billingd.config import parse_config
    from billingd.daemon import run, shutdown, start

    address = short_dir / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(address))
    listener.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(address))
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    config = parse_config(
        f"database: sqlite:///{short_dir / 'b.db'}\nsocket: {short_dir / 's'}\n"
        f"data_dir: {short_dir / 'data'}\ninvoicing: manual\n"
    )

    def received() -> list[bytes]:
        messages = []
        with contextlib.suppress(BlockingIOError):
            while True:
                messages.append(listener.recv(4096))
        return messages

    async def scenario() -> dict[str, Any]:
        daemon = start(config)
        serving = asyncio.create_task(run(daemon))
        try:
            while daemon.scheduler is None or len(daemon.scheduler._tasks) < 3:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            before = received()
            assert before.count(b"WATCHDOG=1") >= 3, before
            assert daemon.scheduler.health_view()["state"] == "ok"
            daemon.scheduler._tasks[0].cancel()  # what no error may do: a lane ends
            await asyncio.sleep(0.5)
            after = received()
            status = METHODS["status"].handler(daemon.ctx.acting_as("tester"))
            return {"after": after, "status": status}
        finally:
            daemon.stop.set()
            await serving
            await shutdown(daemon)

    try:
        outcome = asyncio.run(scenario())
    finally:
        listener.close()
    after = outcome["after"]
    assert outcome["status"]["scheduler"]["state"] == "dead"
    # at most the ping already under way; then the watchdog is asked to act
    assert after.count(b"WATCHDOG=1") <= 1, after
    assert b"WATCHDOG=trigger" in after
    assert any(m.startswith(b"STATUS=scheduler dead") for m in after)


# -- R-RUN-14: two consecutive failures park the client --------------------------------


def _client_with_contract(ctx: ServiceContext, enterprise_id: int, name: str) -> int:
    client = parties.add_client(ctx, name=name, enterprise_id=enterprise_id)
    contracts.add_contract(
        ctx,
        client_id=client.id,
        description="Hosted PBX",
        unit_price=Decimal("10.00"),
        cycle="month",
        start_date=dt.date(2026, 1, 1),
    )
    return client.id


def test_r_run_14_client_failing_in_two_consecutive_runs_is_parked_with_the_reason(
    ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    company = parties.add_enterprise(ctx, name="Acme", currency="EUR", tax_rate=Decimal(19))
    broken = _client_with_contract(ctx, company.id, "Broken")
    fine = _client_with_contract(ctx, company.id, "Fine")
    real = runs.bill_client
    failing = {broken}

    def bill_client(step_ctx: ServiceContext, client_id: Any, *args: Any) -> runs.ClientResult:
        if client_id in failing:
            raise RuntimeError("the renderer plugin exploded")
        return real(step_ctx, client_id, *args)

    monkeypatch.setattr(runs, "bill_client", bill_client)

    def run(as_of: dt.date, client_id: int | None = None) -> Run:
        return runs.run_all(ctx, as_of=as_of, client_id=client_id)

    first = run(dt.date(2026, 1, 1))
    assert (first.failures, first.parked) == (1, 0) and not runs.is_parked(broken)
    # a run that did not include the failing client does not break its streak
    assert run(dt.date(2026, 1, 2), client_id=fine).failures == 0
    second = run(dt.date(2026, 1, 3))
    assert (second.failures, second.parked) == (1, 1)
    assert runs.is_parked(broken) and not runs.is_parked(fine)
    (parking,) = runs.list_parked()
    assert parking.client_id == broken
    assert parking.reason == (
        "billing failed in two consecutive runs: RuntimeError: the renderer plugin exploded"
    )
    assert [e.message for e in second.errors] == ["RuntimeError: the renderer plugin exploded"]
    # parked: later runs leave it alone (no failure recorded)
    assert run(dt.date(2026, 1, 4)).failures == 0

    # Released, it gets two tries again; a success in between resets the count.
    runs.release(ctx, broken)
    assert run(dt.date(2026, 1, 5)).failures == 1 and not runs.is_parked(broken)
    failing.clear()
    assert run(dt.date(2026, 1, 6)).failures == 0
    failing.add(broken)
    assert run(dt.date(2026, 1, 7)).failures == 1 and not runs.is_parked(broken)
    assert run(dt.date(2026, 1, 8)).parked == 1 and runs.is_parked(broken)
    assert ParkedClient.select().where(ParkedClient.client == broken).count() == 2


def test_r_run_10_a_reseller_step_failure_is_recorded_by_name(
    ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step billing a reseller (``reseller:ID``) records its error without a client id."""
    company = parties.add_enterprise(ctx, name="Acme", currency="EUR", tax_rate=Decimal(19))
    run = runs.start_run(ctx, as_of=dt.date(2026, 1, 1), client_id=None, trigger="manual")

    def bill_client(*args: Any) -> runs.ClientResult:
        raise ValueError("bad reseller data")

    monkeypatch.setattr(runs, "bill_client", bill_client)
    stepped = runs.run_step(ctx, run.id, f"reseller:{company.id}", 24)
    assert stepped.failures == 1
    (error,) = RunError.select().where(RunError.run == run.id)
    assert error.client_id is None and error.message.startswith(f"reseller:{company.id}: Value")


# -- defect 14: a lease, not a pid check --------------------------------------------------


def _running(pid: int, host: str, beat: dt.datetime | None, started: dt.datetime) -> int:
    return Run.create(
        as_of=dt.date(2026, 1, 1),
        host=host,
        pid=pid,
        heartbeat_at=beat,
        started_at=started,
    ).id


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_r_run_9_a_stale_lease_is_interrupted_whatever_its_pid(ctx: ServiceContext) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stale = now - runs.RUN_LEASE - dt.timedelta(seconds=5)
    here = socket.gethostname()
    # the pid is alive (this very process), the heartbeat is old: a crashed daemon's run
    # whose pid was reused, e.g. after a reboot
    reused = _running(os.getpid(), here, stale, stale)
    zombie = _running(os.getpid(), "another-host", None, stale)  # never beat: its start
    kept = _running(os.getpid(), here, stale, stale)  # this process's own run
    alive_elsewhere = _running(_dead_pid(), "another-host", now, now)  # a fresh lease
    gone_here = _running(_dead_pid(), here, now, now)  # certain: no such process here
    assert runs.mark_interrupted_runs(keep={kept}) == 3
    status = {r.id: r.status for r in Run.select()}
    assert status == {
        reused: "interrupted",
        zombie: "interrupted",
        kept: "running",
        alive_elsewhere: "running",
        gone_here: "interrupted",
    }
    assert Run.get_by_id(reused).finished_at is not None
    # a heartbeat renews the lease of running runs only
    assert runs.heartbeat({kept, reused}) == 1
    assert Run.get_by_id(kept).heartbeat_at > stale


@pytest.mark.slow  # two daemon starts and a stale-run wait
def test_r_run_9_daemon_interrupts_stale_runs_at_start_and_while_running(
    spawn: Callable[..., RunningDaemon], database_url: str
) -> None:
    open_database(database_url)
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5)
    at_start = _running(os.getpid(), socket.gethostname(), old, old)
    daemon = spawn()
    # marked before the socket answers: the first answer already says so
    assert daemon.call("run.show", id=at_start)["status"] == "interrupted"
    # another daemon of the database (any host) dies while this one runs
    open_database(database_url)
    later = _running(os.getpid(), "db-peer-7", old, old)
    wait_for(  # the lease keeper marks every MARK_SECONDS: an idle daemon sleeps between
        lambda: daemon.call("run.show", id=later)["status"] == "interrupted",
        MARK_SECONDS + 15,
        "the lease keeper to mark the dead peer's run",
        step=0.2,
    )
    # the daemon's own runs keep a fresh lease
    seed_client(daemon)
    run = ctl(daemon, "run", "--until", "2026-03-01")
    assert run["status"] == "done"
    open_database(database_url)
    beat = Run.get_by_id(run["id"]).heartbeat_at
    assert beat is not None and beat > old


# -- defect 13: creation-triggered billing coalesces ------------------------------------


@pytest.mark.slow  # over 2 s: a contract import and two runs
def test_r_run_5_contract_import_bills_once_in_one_run_and_operator_run_does_not_wait(
    spawn: Callable[..., RunningDaemon], short_dir: Path
) -> None:
    daemon = spawn(TEST_CLOCK)
    ctl(daemon, "clock", "set", "2030-01-01T03:00Z")
    company = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    bulk = daemon.call("client.add", name="Bulk", enterprise=company["id"])["id"]
    second = daemon.call("client.add", name="Second", enterprise=company["id"])["id"]
    other = daemon.call("client.add", name="Other", enterprise=company["id"])["id"]
    daemon.call(
        "contract.add",
        client=other,
        description="Line",
        price="5.00",
        cycle="month",
        start="2030-01-01",
    )
    wait_for(lambda: daemon.call("invoice.list", client=other), 10, "the other client's invoice")
    before = {r["id"] for r in daemon.call("run.list", limit=500)}

    path = short_dir / "contracts.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["client", "description", "price", "cycle", "start", "origin"])
        for n in range(500):
            owner = bulk if n % 5 else second
            writer.writerow([owner, f"Seat {n}", "1.00", "month", "2030-01-01", "standard"])
    imported_at = time.monotonic()
    assert ctl(daemon, "contract", "import", str(path))["imported"] == 500
    imported = time.monotonic() - imported_at
    operator_at = time.monotonic()
    operator = ctl(daemon, "run", "--client", str(other))
    operator_took = time.monotonic() - operator_at
    assert operator["status"] == "done"

    def created_runs() -> list[dict[str, Any]] | None:
        found = [r for r in daemon.call("run.list", limit=500) if r["id"] not in before]
        bulk_runs = [r for r in found if r["trigger"] != "manual"]
        return bulk_runs if bulk_runs and all(r["status"] != "running" for r in found) else None

    bulk_runs = wait_for(created_runs, 120, "the import's billing", step=0.2)
    billed_took = time.monotonic() - imported_at
    # one run for the whole import, over its clients only (issue 13)
    assert [(r["trigger"], r["clients"], r["client_id"]) for r in bulk_runs] == [
        ("import", sorted([bulk, second]), None)
    ]
    assert bulk_runs[0]["status"] == "done" and bulk_runs[0]["total"] == 2
    invoiced = [
        i for c in (bulk, second) for i in daemon.call("invoice.list", client=c, limit=1000)
    ]
    lines = sum(len(daemon.call("invoice.show", invoice=i["id"])["lines"]) for i in invoiced)
    assert lines == 500  # every seat's first cycle, once
    assert operator_took < 10, f"the operator's run took {operator_took:.1f}s"
    print(
        f"\nimport of 500 contracts {imported:.2f}s; {len(bulk_runs)} run(s) billed them "
        f"{billed_took:.2f}s after the import began; operator run meanwhile {operator_took:.2f}s"
    )


def test_creation_requests_of_one_client_coalesce_in_process() -> None:
    """The scheduler keeps one pending request per client and clock instant."""
    from billingd.scheduler import Scheduler, Settings

    async def scenario() -> dict[tuple[int, Any], str]:
        scheduler = Scheduler(
            ServiceContext(),
            Settings("0 2 * * *", "UTC", "auto", 24),
            lambda name, payload: None,
            asyncio.Event(),
        )
        for _ in range(3000):
            scheduler.request_client_run(2)
        scheduler.request_client_run(3, actor="alice")
        await asyncio.sleep(0.05)
        return scheduler._requests

    assert asyncio.run(scenario()) == {(2, None): "system", (3, None): "alice"}
