"""PostgreSQL going away under a running daemon (issue 14, R-RUN-9, R-NUM-3).

The server is a private one (tests/chaos/servers.py), really restarted, or its client
sessions ended with ``pg_terminate_backend`` as a restart or a failover ends them.
While it is away every call is refused as ``database unavailable`` (1006), never as an
internal error; once it is back, every thread of the daemon (socket readers and
writer, scheduler lanes, document worker) works again without a restart, and the run
it was in goes on: every due invoice exactly once, numbers gapless, the doctor clean.
Two daemons billing one database at once, one of them killed: the other finishes the
work (it takes over the dead one's run), each invoice still exactly once.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from billingd.control.client import RemoteError
from billingd.errors import DATABASE_UNAVAILABLE
from billingd.scheduler import MARK_SECONDS
from billingd.services import runs
from tests.chaos.conftest import assert_doctor_clean
from tests.chaos.servers import PrivatePostgres
from tests.conftest import RunningDaemon, billingctl, billingctl_ok
from tests.daemon.test_crash_recovery import (
    AS_OF,
    NUMBER_START,
    _kill,
    assert_exactly_once,
    daemons,  # noqa: F401 (the fixture)
    expected_periods,
    seed_clients,
    wait_documents_rendered,
    wait_for,
)

CLIENTS = 1000
CUTS = 3


def call_when_back(daemon: RunningDaemon, method: str, **params: Any) -> Any:
    """A call that may be refused as database unavailable for a few seconds after the
    server is back (the daemon's backoff); any other refusal fails the test."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return daemon.call(method, **params)
        except RemoteError as exc:
            if exc.code != DATABASE_UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_ended(daemon: RunningDaemon, run_id: int, timeout: float = 150) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        run = call_when_back(daemon, "run.show", id=run_id)
        return run if run["status"] != "running" else None

    return wait_for(ended, timeout, f"run {run_id} to end", step=0.2)


def started_run(
    url: str, folder: Path, running: list[RunningDaemon]
) -> tuple[list[int], RunningDaemon, int]:
    """:data:`CLIENTS` clients, a daemon and its run of them all, once the run's first
    batch is committed: the client ids, the daemon, the run id."""
    ids = seed_clients(url, CLIENTS)
    daemon = RunningDaemon(folder, url)
    running.append(daemon)  # stopped by the test's fixture
    run_id = daemon.call("run.start", until=AS_OF.isoformat())["id"]
    wait_for(
        lambda: daemon.call("run.show", id=run_id)["done"] >= runs.BATCH_SIZE,
        timeout=120,
        what="the first batch",
        step=0.02,
    )
    return ids, daemon, run_id


def assert_whole(daemon: RunningDaemon, url: str, ids: list[int], run: dict[str, Any]) -> None:
    """The run billed everything, each period once, documents and doctor included."""
    assert (run["status"], run["failures"]) == ("done", 0), run
    assert run["invoices"] == len(ids), run
    wait_documents_rendered(url)
    assert_exactly_once(url, {cid: expected_periods(AS_OF, AS_OF) for cid in ids}, NUMBER_START)
    assert_doctor_clean(daemon)


@pytest.mark.slow
def test_r_run_9_postgresql_restarted_mid_run_the_daemon_reconnects_and_resumes(
    pg_server: PrivatePostgres,
    pg: str,
    short_dir: Path,
    daemons: list[RunningDaemon],  # noqa: F811
) -> None:
    ids, daemon, run_id = started_run(pg, short_dir, daemons)

    pg_server.stop()  # "fast": every session ended, as a restart does
    refused = billingctl(daemon.socket, "status")
    assert refused.returncode == 1, refused
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == DATABASE_UNAVAILABLE, error
    assert error["data"]["reason"] == "database_unavailable"
    assert error["message"].startswith("database unavailable: PostgreSQL at 127.0.0.1:")
    with pytest.raises(RemoteError) as write:
        daemon.call("client.add", name="Written while away", enterprise=1)
    assert write.value.code == DATABASE_UNAVAILABLE
    time.sleep(2)  # away a while: the daemon tries again with backoff meanwhile
    pg_server.start()

    run = run_ended(daemon, run_id)
    assert f"run {run_id} waits for the database" in daemon.log_text()
    assert "goes on: the database is back" in daemon.log_text()
    assert "InterfaceError" not in daemon.log_text()
    # the socket's reader and writer threads have new connections too
    wait_for(  # nothing stays dead: each kind of the scheduler's work succeeded since
        lambda: billingctl_ok(daemon, "status")["scheduler"]["state"] == "ok",
        30,
        "the scheduler to be healthy again",
        step=0.5,
    )
    billingctl_ok(daemon, "client", "add", "--name", "After the restart", "--enterprise", "1")
    assert_whole(daemon, pg, ids, run)


@pytest.mark.slow
def test_r_run_9_connections_cut_mid_run_the_run_goes_on_exactly_once(
    pg_server: PrivatePostgres,
    pg: str,
    short_dir: Path,
    daemons: list[RunningDaemon],  # noqa: F811
) -> None:
    ids, daemon, run_id = started_run(pg, short_dir, daemons)
    cuts = []
    for _ in range(CUTS):  # every thread's session ended, mid-batch, a few times
        cuts.append(pg_server.terminate_clients())
        time.sleep(1.5)
    run = run_ended(daemon, run_id)
    assert all(cuts) and "waits for the database" in daemon.log_text(), cuts
    assert_whole(daemon, pg, ids, run)


@pytest.mark.slow
def test_r_run_9_two_daemons_billing_one_killed_the_other_finishes_the_work(
    pg: str,
    short_dir: Path,
    daemons: list[RunningDaemon],  # noqa: F811
) -> None:
    ids = seed_clients(pg, CLIENTS)
    for name in ("a", "b"):
        (short_dir / name).mkdir()
        daemons.append(RunningDaemon(short_dir / name, pg))
    doomed, survivor = daemons
    started = {}

    def start(daemon: RunningDaemon) -> None:
        started[daemon] = daemon.call("run.start", until=AS_OF.isoformat())["id"]

    both = [threading.Thread(target=start, args=(d,)) for d in daemons]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join(timeout=30)
    wait_for(
        lambda: doomed.call("run.show", id=started[doomed])["done"] >= runs.BATCH_SIZE,
        timeout=120,
        what="the doomed daemon's first batch",
        step=0.02,
    )
    _kill(doomed)  # SIGKILL in the middle of its run: its batch rolled back
    daemons.remove(doomed)
    own = run_ended(survivor, started[survivor])
    assert (own["status"], own["failures"]) == ("done", 0), own

    def takeover() -> dict[str, Any] | None:
        found = [r for r in survivor.call("run.list", limit=50) if r["trigger"] == "takeover"]
        return found[0] if found else None

    # the survivor's lease keeper marks the dead daemon's run and bills what it left
    taken = wait_for(takeover, MARK_SECONDS + 30, "the takeover run", step=0.5)
    assert survivor.call("run.show", id=started[doomed])["status"] == "interrupted"
    rest = run_ended(survivor, taken["id"])
    assert (rest["status"], rest["failures"]) == ("done", 0), rest
    billed = [survivor.call("run.show", id=i)["invoices"] for i in (*started.values(), rest["id"])]
    assert sum(billed) <= len(ids) and own["invoices"] + rest["invoices"] > 0, billed
    wait_documents_rendered(pg)
    assert_exactly_once(pg, {cid: expected_periods(AS_OF, AS_OF) for cid in ids}, NUMBER_START)
    assert_doctor_clean(survivor)
