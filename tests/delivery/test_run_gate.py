"""The queue workers give way to a billing run of their daemon (issue 13, R-INV-11).

While a run executes, the document and outbox workers take no new work: its
invoices are issued first, then rendered and mailed. A worker waits at most
``GIVE_WAY_SECONDS`` in a row, so a very long run never holds deliveries back to
its end.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import sqlite3
import time

import pytest

from billingd.run_gate import RunGate
from tests.conftest import RunningDaemon
from tests.conftest import billingctl_ok as ok
from tests.delivery.conftest import seed_client, wait_until

CLIENTS = 260
"""More than a batch of a run (``runs.BATCH_SIZE``): the first batch commits, and
queues its documents and emails, while the run goes on."""


def _clients_with_contracts(daemon: RunningDaemon, enterprise: int) -> None:
    folder = daemon.folder
    with (folder / "clients.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["enterprise", "name", "email", "send-email"])
        writer.writerows(
            [enterprise, f"Client {n}", f"c{n}@client.test", "true"] for n in range(CLIENTS)
        )
    ok(daemon, "client", "import", str(folder / "clients.csv"))
    ids = [
        c["id"] for c in daemon.call("client.list", limit=1000) if c["name"].startswith("Client")
    ]
    with (folder / "contracts.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["client", "description", "price", "cycle", "start"])
        writer.writerows([client, "Line", "10.00", "month", "2026-01-01"] for client in ids)
    ok(daemon, "contract", "import", str(folder / "contracts.csv"))


def _stored(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.slow  # over 2 s: 260 clients billed, rendered and mailed
def test_r_inv_11_documents_and_emails_of_a_run_start_after_its_invoices(
    mailing: RunningDaemon,
) -> None:
    ok(mailing, "clock", "set", "2026-01-01T06:00Z")
    enterprise = seed_client(mailing)["enterprise_id"]
    _clients_with_contracts(mailing, enterprise)
    run = ok(mailing, "run", "--until", "2026-01-01")
    assert run["invoices"] == CLIENTS and run["failures"] == 0, run

    def finished() -> bool:
        with sqlite3.connect(mailing.folder / "billing.db") as db:
            (rendering,) = db.execute(
                "SELECT COUNT(*) FROM document_job WHERE state != 'ready'"
            ).fetchone()
            (mailing_,) = db.execute(
                "SELECT COUNT(*) FROM outbox_message WHERE state != 'sent'"
            ).fetchone()
        return rendering == 0 and mailing_ == 0

    wait_until(finished, timeout=120, what="the run's documents and emails")
    with sqlite3.connect(mailing.folder / "billing.db") as db:
        (ended,) = db.execute("SELECT finished_at FROM run WHERE id = ?", (run["id"],)).fetchone()
        claims = [_stored(at) for (at,) in db.execute("SELECT claimed_at FROM document_job")]
        mails = [_stored(at) for (at,) in db.execute("SELECT sent_at FROM outbox_message")]
    assert len(claims) == CLIENTS and min(claims) >= _stored(ended)
    assert len(mails) == CLIENTS and min(mails) >= _stored(ended)


def test_a_worker_waits_for_a_run_only_so_long() -> None:
    async def scenario() -> tuple[bool, float, float]:
        gate, stopping = RunGate(), asyncio.Event()
        with gate.billing():
            began = time.monotonic()
            await gate.wait_open(stopping, seconds=0.2)  # the run goes on: a batch anyway
            waited = time.monotonic() - began
            closed = gate.closed
        began = time.monotonic()
        await gate.wait_open(stopping, seconds=30)  # open: at once
        return closed, waited, time.monotonic() - began

    closed, waited, open_wait = asyncio.run(scenario())
    assert closed and 0.2 <= waited < 5 and open_wait < 0.1


def test_a_waiting_worker_goes_on_when_the_run_ends() -> None:
    async def scenario() -> float:
        gate, stopping = RunGate(), asyncio.Event()
        context = gate.billing()
        context.__enter__()
        asyncio.get_running_loop().call_later(0.1, context.__exit__, None, None, None)
        began = time.monotonic()
        await gate.wait_open(stopping, seconds=30)
        assert not gate.closed
        return time.monotonic() - began

    assert asyncio.run(scenario()) < 5
