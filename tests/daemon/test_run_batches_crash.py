"""A SIGKILL in the middle of a batch (issue 13, R-RUN-9, R-NUM-3, R-TX-1).

A run bills ``runs.BATCH_SIZE`` clients per transaction: a daemon killed inside a
batch leaves whole batches and nothing of the one it was in; the run is marked
interrupted, and the next daemon's run bills every due invoice exactly once, with
gapless numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from billingd.services import runs
from tests.conftest import RunningDaemon
from tests.daemon.test_crash_recovery import (
    AS_OF,
    NUMBER_START,
    _kill,
    assert_exactly_once,
    daemons,  # noqa: F401 (the fixture)
    expected_periods,
    seed_clients,
    sqlite_count,
    wait_documents_rendered,
    wait_for,
    wait_run_done,
)


@pytest.mark.slow
def test_r_run_9_sigkill_inside_a_batch_leaves_whole_batches_and_restart_bills_the_rest(
    short_dir: Path,
    daemons: list[RunningDaemon],  # noqa: F811
) -> None:
    batch = runs.BATCH_SIZE
    clients = 4 * batch
    path = short_dir / "billing.db"
    url = f"sqlite:///{path}"
    ids = seed_clients(url, clients)
    expected = {cid: expected_periods(AS_OF, AS_OF) for cid in ids}

    first = RunningDaemon(short_dir, url)
    daemons.append(first)
    run = first.call("run.start", until=AS_OF.isoformat())
    # the first batch's commit shows; the kill lands in the batch after it
    wait_for(
        lambda: sqlite_count(path, "SELECT COUNT(*) FROM invoice") >= batch,
        timeout=120,
        what="the first batch",
        step=0.01,
    )
    _kill(first)
    daemons.remove(first)
    billed = sqlite_count(path, "SELECT COUNT(*) FROM invoice")
    assert billed % batch == 0 and batch <= billed < clients, "a batch was cut in half"
    done = sqlite_count(path, f"SELECT done FROM run WHERE id = {run['id']}")
    assert done == billed  # the run's figures commit with their batch
    claims = sqlite_count(path, "SELECT COUNT(*) FROM billed_cycle")
    jobs = sqlite_count(path, "SELECT COUNT(*) FROM document_job")
    assert claims == jobs == billed

    second = RunningDaemon(short_dir, url)
    daemons.append(second)
    assert second.call("run.show", id=run["id"])["status"] == "interrupted"
    again = second.call("run.start", until=AS_OF.isoformat())
    finished = wait_run_done(second, again["id"], timeout=150)
    assert (finished["status"], finished["failures"]) == ("done", 0), finished
    assert finished["invoices"] == clients - billed
    wait_documents_rendered(url)
    assert_exactly_once(url, expected, NUMBER_START)
