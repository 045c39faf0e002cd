"""Automatic generation (SPEC §7, issue 4) end to end: a real daemon, its scheduler and clock.

Every test starts ``billingd serve`` on SQLite, mostly with ``clock: test`` so that
time is moved with ``billingctl clock …`` instead of waited for (R-RUN-15). The
test clock starts at the system time and only moves forward, so the dates used
here are computed from today: ``M`` is the first day of a month in the future.
Nothing here reaches into the daemon: it is driven through its socket,
``billingctl``, signals and the systemd notify protocol.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from billingd.control.client import ControlClient
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ctl
from tests.daemon.test_crash_recovery import seed_clients, wait_for, wait_run_done

BERLIN = ZoneInfo("Europe/Berlin")
AUTO = "clock: test\ninvoicing: auto\ntimezone: Europe/Berlin\n"


def first_of_month(months_ahead: int) -> dt.date:
    """The first day of the month ``months_ahead`` after this one (Berlin time)."""
    today = dt.datetime.now(BERLIN).date()
    index = today.year * 12 + today.month - 1 + months_ahead
    return dt.date(index // 12, index % 12 + 1, 1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, day.day)


def berlin(day: dt.date, hour: int, minute: int = 0) -> str:
    """A Berlin wall-clock time as the UTC instant ``clock set`` takes."""
    local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)
    return local.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def refused(daemon: RunningDaemon, *args: str) -> dict[str, Any]:
    """``billingctl --json …`` that must be refused by a rule (exit 1); its error."""
    result = billingctl(daemon.socket, *args)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)["error"]


def enterprise(daemon: RunningDaemon, **fields: Any) -> int:
    made = daemon.call(
        "enterprise.add",
        name="Acme Telecom GmbH",
        currency="EUR",
        timezone="Europe/Berlin",
        tax_rate="19",
        **fields,
    )
    return made["id"]


def client_with_contract(
    daemon: RunningDaemon,
    company: int,
    start: dt.date,
    invoice_days: str | None = None,
    **terms: Any,
) -> int:
    extra = {"invoice_days": invoice_days} if invoice_days else {}
    client = daemon.call("client.add", name="Jane Doe", enterprise=company, **extra)
    daemon.call(
        "contract.add",
        client=client["id"],
        description="Hosted PBX",
        price="100.00",
        cycle="month",
        start=start.isoformat(),
        **terms,
    )
    return client["id"]


def invoices(daemon: RunningDaemon, **filters: Any) -> list[dict[str, Any]]:
    found = daemon.call("invoice.list", limit=1000, **filters)
    return sorted(found, key=lambda i: (i["issue_date"], i["id"]))


@pytest.fixture
def spawn(short_dir: Path) -> Iterator[Callable[..., RunningDaemon]]:
    """Start a daemon on ``short_dir``'s SQLite database; stopped after the test."""
    started: list[RunningDaemon] = []

    def start(extra_config: str = AUTO) -> RunningDaemon:
        daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", extra_config)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


# -- the test clock (R-RUN-15) ------------------------------------------------------------


def test_r_run_15_clock_show_set_advance(spawn: Callable[..., RunningDaemon]) -> None:
    daemon = spawn()
    shown = ctl(daemon, "clock", "show")
    assert shown["clock"] == "test"
    assert abs(instant(shown["now"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    target = berlin(first_of_month(2), 9, 30)
    moved = ctl(daemon, "clock", "set", target)
    assert moved["now"] == target
    assert ctl(daemon, "clock", "show")["now"] == target
    advanced = ctl(daemon, "clock", "advance", "31d")
    assert instant(advanced["now"]) == instant(target) + dt.timedelta(days=31)
    ctl(daemon, "clock", "advance", "12h")
    assert instant(ctl(daemon, "clock", "show")["now"]) == instant(target) + dt.timedelta(
        days=31, hours=12
    )
    # A bad duration is a clear refusal.
    assert "duration" in refused(daemon, "clock", "advance", "soon")["message"]
    # Once a document is issued the test clock never goes backwards (R-RUN-15); before,
    # it may (test_r_run_15_fresh_database_clock_moves_backwards_until_a_document).
    company = enterprise(daemon)
    client = daemon.call("client.add", name="Jane Doe", enterprise=company)
    day = instant(advanced["now"]).date().isoformat()
    daemon.call("invoice.amount", client=client["id"], date=day, amount="119.00")
    backwards = refused(daemon, "clock", "set", target)
    assert "only moves forward" in backwards["message"]
    assert backwards["data"]["rule"] == "R-RUN-15"
    # The daemon's notion of now is the test clock, and it survives a restart.
    assert daemon.call("status")["now"].startswith(advanced["now"][:10])
    daemon.stop()
    again = spawn()
    assert instant(ctl(again, "clock", "show")["now"]) == instant(target) + dt.timedelta(
        days=31, hours=12
    )


def test_r_run_15_system_clock_refuses_set_and_advance(spawn: Callable[..., RunningDaemon]) -> None:
    daemon = spawn("invoicing: auto\n")  # clock: system is the default
    shown = ctl(daemon, "clock", "show")
    assert shown["clock"] == "system"
    assert instant(shown["next_run"]) > instant(shown["now"])
    for args in (("set", berlin(first_of_month(2), 0)), ("advance", "31d")):
        error = refused(daemon, "clock", *args)
        assert error["data"]["rule"] == "R-RUN-15"
        assert "clock: test" in error["message"]
    assert abs(instant(ctl(daemon, "clock", "show")["now"]) - dt.datetime.now(dt.UTC)) < (
        dt.timedelta(minutes=5)
    )


# -- the scheduler fires by itself (R-RUN-1, R-RUN-3) -------------------------------------


def test_r_run_1_schedule_fires_by_itself_at_two_in_the_night(
    spawn: Callable[..., RunningDaemon],
) -> None:
    daemon = spawn()
    assert ctl(daemon, "status")["last_run"] is None
    first = first_of_month(2)
    eve = first - dt.timedelta(days=1)
    ctl(daemon, "clock", "set", berlin(eve, 23))
    company = enterprise(daemon)
    client = client_with_contract(daemon, company, add_months(first, -1), invoice_days="1")
    assert wait_for(  # 0 2 * * * in Europe/Berlin
        lambda: ctl(daemon, "clock", "show")["next_run"] == berlin(first, 2), 5, "the next run"
    )
    ctl(daemon, "clock", "set", berlin(first, 1, 59))  # not yet
    time.sleep(0.3)  # the scheduler had its chance to (wrongly) fire
    assert ctl(daemon, "clock", "show")["next_run"] == berlin(first, 2)
    assert invoices(daemon, client=client) == []

    ctl(daemon, "clock", "advance", "2m")  # 02:01 on the 1st
    issued = wait_for(lambda: invoices(daemon, client=client), 5, "the scheduled invoice")
    assert [(i["issue_date"], i["period_start"], i["period_end"]) for i in issued] == [
        (first.isoformat(), add_months(first, -1).isoformat(), eve.isoformat())
    ]
    assert issued[0]["origin"] == "schedule" and issued[0]["status"] == "open"
    scheduled = [r for r in daemon.call("run.list") if r["trigger"] == "schedule"]
    assert scheduled[0]["as_of"] == first.isoformat()
    assert wait_for(
        lambda: ctl(daemon, "clock", "show")["next_run"] == berlin(first + dt.timedelta(days=1), 2),
        5,
        "the next night's fire time",
    )
    # what monitoring polls: billingctl status names the clock, the next and the last run
    assert wait_for(lambda: ctl(daemon, "status")["last_run"]["status"] == "done", 5, "run end")
    status = ctl(daemon, "status")
    assert status["clock"] == "test"
    assert status["next_run"] == berlin(first + dt.timedelta(days=1), 2)
    last = status["last_run"]
    assert (last["id"], last["trigger"], last["as_of"]) == (
        scheduled[0]["id"],
        "schedule",
        first.isoformat(),
    )
    assert (last["invoices"], last["failures"], last["done"], last["total"]) == (1, 0, 1, 1)


def test_r_run_2_outage_of_92_days_bills_each_missed_period(
    spawn: Callable[..., RunningDaemon],
) -> None:
    daemon = spawn()
    first = first_of_month(2)
    ctl(daemon, "clock", "set", berlin(first - dt.timedelta(days=1), 23))
    company = enterprise(daemon)
    client = client_with_contract(daemon, company, add_months(first, -1), invoice_days="1")
    created = wait_for(  # the nightly runs up to the clock's move, then the contract's run
        lambda: [r for r in daemon.call("run.list") if r["trigger"] == "contract"],
        10,
        "the contract's run",
    )
    wait_run_done(daemon, created[0]["id"], 10)
    before = {r["id"] for r in daemon.call("run.list", limit=500)}

    moved = ctl(daemon, "clock", "advance", "92d")
    today = instant(moved["now"]).astimezone(BERLIN).date()
    due = [add_months(first, k) for k in range(4) if add_months(first, k) <= today]
    assert len(due) in (3, 4)

    def all_issued() -> list[dict[str, Any]] | None:
        found = invoices(daemon, client=client)
        return found if len(found) >= len(due) else None

    issued = wait_for(all_issued, 10, f"{len(due)} invoices")
    # One invoice per missed period, each with its own dates and its own cycle.
    assert [(i["issue_date"], i["period_start"], i["period_end"]) for i in issued] == [
        (day.isoformat(), add_months(day, -1).isoformat(), (day - dt.timedelta(days=1)).isoformat())
        for day in due
    ]
    assert len({i["number"] for i in issued}) == len(due)
    for invoice in issued:
        lines = daemon.call("invoice.show", invoice=invoice["id"])["lines"]
        assert [(line["kind"], line["net"]) for line in lines] == [("contract", "100.00")]
    # The test clock moved past 92 nightly fire times: each was performed at its own
    # instant (R-RUN-15), so each invoice came from the run of its own issue day.
    nightly = wait_for(
        lambda: (
            found
            if len(
                found := [r for r in daemon.call("run.list", limit=500) if r["id"] not in before]
            )
            == 92
            and all(r["status"] == "done" for r in found)
            else None
        ),
        30,
        "the 92 nightly runs",
    )
    nightly.reverse()  # oldest first
    assert {r["trigger"] for r in nightly} == {"schedule"}
    assert [r["as_of"] for r in nightly] == [
        (first + dt.timedelta(days=n)).isoformat() for n in range(92)
    ]
    assert {r["as_of"]: r["invoices"] for r in nightly if r["invoices"]} == {
        day.isoformat(): 1 for day in due
    }
    assert sum(r["failures"] + r["parked"] for r in nightly) == 0
    assert all((r["done"], r["total"]) == (1, 1) for r in nightly)
    billing = next(r for r in nightly if r["invoices"])
    assert ctl(daemon, "runs", str(billing["id"]))["documents"] == 1


# -- the first invoice at contract creation (R-RUN-5) -------------------------------------


def test_r_run_5_advance_contract_billed_at_creation_arrears_not(
    spawn: Callable[..., RunningDaemon],
) -> None:
    daemon = spawn()
    day = first_of_month(2) + dt.timedelta(days=9)
    ctl(daemon, "clock", "set", berlin(day, 10))
    company = enterprise(daemon)
    advance = client_with_contract(daemon, company, day, timing="advance")
    issued = wait_for(lambda: invoices(daemon, client=advance), 5, "the first invoice")
    assert [(i["issue_date"], i["period_start"], i["period_end"]) for i in issued] == [
        (day.isoformat(), day.isoformat(), (add_months(day, 1) - dt.timedelta(days=1)).isoformat())
    ]
    shown = ctl(daemon, "clock", "show")
    assert instant(shown["next_run"]) > instant(shown["now"])  # not the schedule's doing
    runs = daemon.call("run.list")
    assert [(r["trigger"], r["client_id"], r["invoices"]) for r in runs if r["invoices"]] == [
        ("contract", advance, 1)
    ]

    arrears = client_with_contract(daemon, company, day, timing="arrears")
    wait_for(
        lambda: [
            r
            for r in daemon.call("run.list")
            if r["client_id"] == arrears and r["status"] == "done"
        ],
        5,
        "the arrears client's creation run",
    )
    assert invoices(daemon, client=arrears) == []
    # Its first invoice comes with the scheduled run after its first cycle ended.
    end = add_months(day, 1)
    ctl(daemon, "clock", "set", berlin(end, 2, 30))
    issued = wait_for(lambda: invoices(daemon, client=arrears), 5, "the arrears invoice")
    assert [(i["issue_date"], i["period_start"]) for i in issued] == [
        (end.isoformat(), day.isoformat())
    ]


# -- the test clock far ahead of the system clock (R-RUN-15) ------------------------------
# Clients and contracts are dated by the daemon's clock, so the scheduler behaves
# exactly as if that time had passed.


def test_r_run_15_new_client_years_ahead_on_the_test_clock_is_not_parked(
    spawn: Callable[..., RunningDaemon],
) -> None:
    daemon = spawn()
    first = first_of_month(30)
    ctl(daemon, "clock", "set", berlin(first - dt.timedelta(days=1), 23))
    company = enterprise(daemon)
    client = client_with_contract(daemon, company, add_months(first, -1), invoice_days="1")
    ctl(daemon, "clock", "advance", "4h")
    wait_for(
        lambda: invoices(daemon, client=client) or ctl(daemon, "parked", "list"),
        5,
        "an invoice or a parking",
    )
    assert ctl(daemon, "parked", "list") == []  # today: parked, "catch-up … exceeds the bound"
    assert [i["issue_date"] for i in invoices(daemon, client=client)] == [first.isoformat()]


def test_r_run_8_imported_contract_on_the_test_clock_is_not_back_billed(
    spawn: Callable[..., RunningDaemon],
) -> None:
    daemon = spawn()
    day = first_of_month(6) + dt.timedelta(days=9)
    ctl(daemon, "clock", "set", berlin(day, 10))
    company = enterprise(daemon)
    client = client_with_contract(daemon, company, add_months(day, -5), origin="imported")
    wait_for(
        lambda: [
            r for r in daemon.call("run.list") if r["client_id"] == client and r["status"] == "done"
        ],
        5,
        "the contract's creation run",
    )
    # the five cycles before the import are not back-billed; the one starting today is due
    billed = invoices(daemon, client=client)
    assert [(i["period_start"], i["issue_date"]) for i in billed] == [
        (day.isoformat(), day.isoformat())
    ]


# -- billingctl run / runs / parked (R-RUN-1, R-RUN-11, R-RUN-14) -------------------------


def test_billingctl_run_dry_run_writes_nothing_then_run_waits(
    spawn: Callable[..., RunningDaemon],
) -> None:
    daemon = spawn("invoicing: manual\ntimezone: Europe/Berlin\n")
    company = enterprise(daemon, start=700)
    until = dt.date(2026, 3, 1)
    clients = [
        client_with_contract(daemon, company, dt.date(2026, 1, 1)),  # 3 cycles
        client_with_contract(daemon, company, dt.date(2026, 3, 1)),  # 1 cycle
        client_with_contract(daemon, company, dt.date(2026, 3, 2)),  # not yet
    ]
    planned = ctl(daemon, "run", "--until", until.isoformat(), "--dry-run")
    assert planned["dry_run"] is True and planned["as_of"] == until.isoformat()
    shape = sorted(
        (i["client_id"], i["billing_date"], i["period_start"]) for i in planned["invoices"]
    )
    # a backlog is issued on the day it is generated; the billing date stays (R-NUM-6)
    assert len({i["issue_date"] for i in planned["invoices"]}) == 1
    assert shape == [
        (clients[0], "2026-01-01", "2026-01-01"),
        (clients[0], "2026-02-01", "2026-02-01"),
        (clients[0], "2026-03-01", "2026-03-01"),
        (clients[1], "2026-03-01", "2026-03-01"),
    ]
    assert all(i["number"] is None and i["total"] == "119.00" for i in planned["invoices"])
    assert daemon.call("invoice.list") == [] and daemon.call("run.list") == []
    assert ctl(daemon, "run", "--until", until.isoformat(), "--dry-run") == planned  # still

    run = ctl(daemon, "run", "--until", until.isoformat())
    assert run["status"] == "done"
    counts = ("total", "done", "invoices", "documents", "failures")
    assert {k: run[k] for k in counts} == dict(zip(counts, (3, 3, 4, 4, 0), strict=True))
    issued = daemon.call("invoice.list")
    assert sorted((i["client_id"], i["billing_date"], i["period_start"]) for i in issued) == shape
    assert {i["issue_date"] for i in issued} == {i["issue_date"] for i in planned["invoices"]}
    assert sorted(int(i["number"]) for i in issued) == [700, 701, 702, 703]  # nothing consumed
    listed = ctl(daemon, "runs")
    assert [(r["id"], r["status"], r["invoices"]) for r in listed] == [(run["id"], "done", 4)]
    shown = ctl(daemon, "runs", str(run["id"]))
    assert shown["as_of"] == until.isoformat() and shown["errors"] == []
    assert ctl(daemon, "run", "--until", until.isoformat())["invoices"] == 0  # a re-run: nothing
    assert refused(daemon, "runs", "999")["data"]["reason"] == "not_found"


def test_r_run_14_parked_by_safety_bound_then_released(
    spawn: Callable[..., RunningDaemon],
) -> None:
    daemon = spawn("invoicing: manual\ntimezone: Europe/Berlin\ncatch_up_limit: 3\n")
    company = enterprise(daemon)
    until = dt.date(2026, 3, 1)
    behind = client_with_contract(daemon, company, add_months(until, -12))  # 13 cycles due
    current = client_with_contract(daemon, company, until)
    run = ctl(daemon, "run", "--until", until.isoformat())
    assert (run["invoices"], run["parked"], run["failures"]) == (1, 1, 0)
    parked = ctl(daemon, "parked", "list")
    assert [p["client_id"] for p in parked] == [behind]
    assert "13 invoices exceeds the safety bound of 3" in parked[0]["reason"]
    assert invoices(daemon, client=behind) == [] and len(invoices(daemon, client=current)) == 1
    # Parked means not billed, by later runs either, until an operator releases it.
    assert ctl(daemon, "run", "--until", until.isoformat())["invoices"] == 0
    assert ctl(daemon, "parked", "list") == parked

    released = ctl(daemon, "parked", "release", str(behind))
    assert released == {"client_id": behind, "released": 1}
    assert ctl(daemon, "parked", "list") == []
    assert refused(daemon, "parked", "release", str(behind))["data"]["reason"] == "not_found"
    run = ctl(daemon, "run", "--until", until.isoformat())
    assert (run["invoices"], run["parked"]) == (13, 0)
    issued = invoices(daemon, client=behind)
    assert [i["period_start"] for i in issued] == [
        add_months(until, k).isoformat() for k in range(-12, 1)
    ]
    assert ctl(daemon, "parked", "list") == []
    audit = {a["event"] for a in daemon.call("audit.list", client=behind)}
    assert {"client.parked", "client.released"} <= audit
    # The release waived the bound for that catch-up only: a later one is bounded again.
    later = add_months(until, 4)
    run = ctl(daemon, "run", "--until", later.isoformat())
    assert (run["invoices"], run["parked"]) == (0, 2)  # 4 due for each: both over the bound
    assert sorted(p["client_id"] for p in ctl(daemon, "parked", "list")) == [behind, current]


# -- configuration reload (SPEC §9, §12) ---------------------------------------------------


def test_sighup_bad_config_kept_good_config_changes_the_schedule(
    spawn: Callable[..., RunningDaemon],
) -> None:
    daemon = spawn()
    first = first_of_month(2)
    ctl(daemon, "clock", "set", berlin(first, 0, 30))
    assert wait_for(
        lambda: ctl(daemon, "clock", "show")["next_run"] == berlin(first, 2), 5, "next run"
    )
    original = daemon.config_path.read_text()

    daemon.config_path.write_text(original + "schedule: 'every night'\n")
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reload refused" in daemon.log_text(), 5, "the refusal in the log")
    assert "schedule" in daemon.log_text().split("config reload refused", 1)[1]
    assert daemon.process.poll() is None
    assert ctl(daemon, "clock", "show")["next_run"] == berlin(first, 2)  # the old schedule

    daemon.config_path.write_text(original + "schedule: '30 5 * * *'\n")
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in daemon.log_text(), 5, "the reload in the log")
    assert wait_for(
        lambda: ctl(daemon, "clock", "show")["next_run"] == berlin(first, 5, 30),
        5,
        "the new schedule's next run",
    )
    assert daemon.call("status")["pid"] == daemon.process.pid
    # And the scheduler fires by the new schedule, not the old one.
    scheduled = len([r for r in daemon.call("run.list", limit=500) if r["trigger"] == "schedule"])
    ctl(daemon, "clock", "set", berlin(first, 2, 30))
    time.sleep(0.3)  # the old 02:00 had its chance to (wrongly) fire
    assert (
        len([r for r in daemon.call("run.list", limit=500) if r["trigger"] == "schedule"])
        == scheduled
    )
    ctl(daemon, "clock", "set", berlin(first, 5, 31))
    wait_for(
        lambda: (
            len([r for r in daemon.call("run.list", limit=500) if r["trigger"] == "schedule"])
            == scheduled + 1
        ),
        5,
        "the run at 05:30",
    )


# -- systemd watchdog (SPEC §12) -----------------------------------------------------------


class NotifiedDaemon(RunningDaemon):
    """A daemon started like systemd does with ``WatchdogSec=``: ``$NOTIFY_SOCKET``,
    ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID`` set to the daemon's own pid (a shell
    exports its ``$$`` and ``exec``s the daemon, which keeps that pid)."""

    def __init__(self, folder: Path, database: str, env: dict[str, str]) -> None:
        self.folder = folder
        self.socket = folder / "billingd.sock"
        self.config_path = folder / "billingd.yaml"
        self.config_path.write_text(
            f"database: {database}\nsocket: {self.socket}\ndata_dir: {folder / 'data'}\n"
            "invoicing: manual\n",
            encoding="utf-8",
        )
        self.log = (folder / "daemon.log").open("w")
        command = [sys.executable, "-m", "billingd", "serve", "--config", str(self.config_path)]
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" "$@"', *command],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
        self._client: ControlClient | None = None
        self.wait_ready()


@pytest.mark.slow  # 3,000 clients seeded, watchdog pings counted over a run
def test_watchdog_ready_then_pings_also_during_a_run(short_dir: Path) -> None:
    url = f"sqlite:///{short_dir / 'billing.db'}"
    seed_clients(url, 3000)  # a run of some seconds, even batched
    address = short_dir / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(address))
    listener.settimeout(10)
    env = {"NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "200000"}
    daemon = NotifiedDaemon(short_dir, url, env)
    try:
        assert daemon.call("status")["pid"] == daemon.process.pid  # WATCHDOG_PID is its own
        received = [listener.recv(4096)]
        assert received[0] == b"READY=1"
        started = time.monotonic()
        while received.count(b"WATCHDOG=1") < 3:
            received.append(listener.recv(4096))
        # Pings come at about half the 0.2 s interval, not just once.
        assert time.monotonic() - started < 2
        assert set(received) == {b"READY=1", b"WATCHDOG=1"}
        # A busy run (PDF rendering on the database worker) does not starve the pings.
        run = daemon.call("run.start", until="2026-03-01")
        started = time.monotonic()
        pings = 0
        while time.monotonic() - started < 1.0:
            pings += listener.recv(4096) == b"WATCHDOG=1"
        assert daemon.call("run.show", id=run["id"])["status"] == "running"
        assert pings >= 5, f"{pings} watchdog pings in 1 s during a run"
        daemon.stop()
        received = [b"WATCHDOG=1"]
        while received[-1] == b"WATCHDOG=1":
            received.append(listener.recv(4096))
        assert received[-1] == b"STOPPING=1"
    finally:
        daemon.stop()
        listener.close()


# -- SIGTERM during a run (SPEC §12, R-TX-1) -----------------------------------------------


@pytest.mark.slow  # over 2 s: a run interrupted by SIGTERM
def test_sigterm_during_a_run_finishes_the_client_and_stops(
    spawn: Callable[..., RunningDaemon], short_dir: Path
) -> None:
    path = short_dir / "billing.db"
    seed_clients(f"sqlite:///{path}", 300, number_start=1)
    daemon = spawn("invoicing: manual\n")
    run = daemon.call("run.start", until="2026-03-01")

    def count(sql: str) -> int:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as con:
            return con.execute(sql).fetchone()[0]

    wait_for(lambda: count("SELECT COUNT(*) FROM invoice") >= 20, 60, "20 invoices", step=0.02)
    signalled = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=20) == 0
    assert time.monotonic() - signalled < 10
    assert "stopped" in daemon.log_text()

    billed = count("SELECT COUNT(*) FROM invoice")
    assert 20 <= billed < 300, "SIGTERM did not stop the run"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        status, done, recorded = con.execute(
            "SELECT status, done, invoices FROM run WHERE id = ?", (run["id"],)
        ).fetchone()
        numbers = sorted(int(n) for (n,) in con.execute("SELECT number FROM invoice"))
        bare = con.execute(
            "SELECT COUNT(*) FROM invoice i WHERE i.number IS NULL"
            " OR NOT EXISTS (SELECT 1 FROM invoice_line l WHERE l.invoice_id = i.id)"
            " OR NOT EXISTS (SELECT 1 FROM document d WHERE d.invoice_id = i.id)"
            " AND NOT EXISTS (SELECT 1 FROM document_job j WHERE j.invoice_id = i.id"
            " AND j.state IN ('pending', 'rendering'))"  # rendered after the restart
        ).fetchone()[0]
        unclaimed = con.execute(
            "SELECT COUNT(*) FROM scheduled_slot WHERE invoice_id IS NULL"
        ).fetchone()[0]
    assert status in ("interrupted", "done")
    assert status == "interrupted"  # 300 clients take far longer than the signal
    assert done == recorded == billed
    assert bare == 0 and unclaimed == 0
    assert numbers == list(range(1, billed + 1))
