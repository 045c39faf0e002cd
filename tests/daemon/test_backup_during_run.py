"""A backup taken while a run bills, restored elsewhere (issue 14, R-RUN-9, R-NUM-3).

A real daemon bills a few hundred clients; ``billingd backup`` runs from another
process in the middle of it. The backup is restored into a fresh place with
``billingd restore``, and ``billingd doctor`` finds it consistent: whole batches,
no half-billed client, no gap; only the run the backup caught "running" (its
process gone) and its claims. A daemon started on the restored database marks that
run interrupted, and its next run bills the rest exactly once.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from billingd.services import runs
from tests.conftest import RunningDaemon
from tests.control.test_doctor_restore import billingd, write_config
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


def doctor(config: Path) -> tuple[int, dict[str, list[str]]]:
    """``billingd doctor --json``: its exit code and its problems by check."""
    result = billingd("doctor", "--config", str(config), "--json")
    found: dict[str, list[str]] = {}
    for problem in json.loads(result.stdout)["problems"]:
        found.setdefault(problem["check"], []).append(problem["message"])
    return result.returncode, found


def billed_state(path: Path) -> tuple[int, ...]:
    """Invoices, their cycle claims, lines, ledger entries and document jobs."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as copy:
        return tuple(
            copy.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("invoice", "billed_cycle", "invoice_line", "ledger_entry", "document_job")
        )


@pytest.mark.slow
def test_a_backup_taken_during_a_run_restores_consistent_and_the_next_run_bills_the_rest(
    short_dir: Path,
    daemons: list[RunningDaemon],  # noqa: F811
) -> None:
    clients = 3 * runs.BATCH_SIZE
    original = short_dir / "original"
    original.mkdir()
    path = original / "billing.db"
    url = f"sqlite:///{path}"
    ids = seed_clients(url, clients)
    expected = {cid: expected_periods(AS_OF, AS_OF) for cid in ids}

    first = RunningDaemon(original, url)
    daemons.append(first)
    run = first.call("run.start", until=AS_OF.isoformat())
    wait_for(
        lambda: sqlite_count(path, "SELECT COUNT(*) FROM invoice") >= 1,
        timeout=120,
        what="the run's first batch",
        step=0.01,
    )
    backup = short_dir / "backup.db"
    made = billingd("backup", "--config", str(first.config_path), "-o", str(backup))
    assert made.returncode == 0, made.stderr
    finished = wait_run_done(first, run["id"], timeout=150)
    assert finished["status"] == "done", finished
    first.stop()
    daemons.remove(first)

    invoices, claims, lines, entries, jobs = billed_state(backup)
    assert 0 < invoices < clients, "the backup was not taken during the run"
    assert invoices % runs.BATCH_SIZE == 0, "a batch cut in half"
    assert claims == lines == entries == jobs == invoices, "a half-billed client"

    fresh = short_dir / "fresh"
    fresh.mkdir()
    config = write_config(fresh, f"sqlite:///{fresh / 'billing.db'}")
    restored = billingd("restore", "--config", str(config), str(backup))
    assert restored.returncode == 3, restored.stdout + restored.stderr  # the run it caught
    code, found = doctor(config)
    assert code == 1
    assert set(found) <= {"runs", "documents"}, found  # what the stopped daemon held
    (caught,) = found["runs"]
    assert caught.startswith("running since") and "is gone" in caught
    assert all("stuck rendering" in m for m in found.get("documents", [])), found

    second = RunningDaemon(fresh, f"sqlite:///{fresh / 'billing.db'}")
    daemons.append(second)
    assert second.call("run.show", id=run["id"])["status"] == "interrupted"
    again = second.call("run.start", until=AS_OF.isoformat())
    rest = wait_run_done(second, again["id"], timeout=150)
    assert (rest["status"], rest["failures"]) == ("done", 0), rest
    assert rest["invoices"] == clients - invoices
    wait_documents_rendered(f"sqlite:///{fresh / 'billing.db'}")
    assert doctor(config) == (0, {})
    assert_exactly_once(f"sqlite:///{fresh / 'billing.db'}", expected, NUMBER_START)
    print(f"\nbackup at {invoices} of {clients} invoices; restored: {found}")
