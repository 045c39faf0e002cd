"""R-NUM-3 under real concurrency: several OS processes issue invoices for one enterprise.

Every worker is its own Python process with its own database connection; all start
at the same instant (a start file), each invoice is its own transaction with its
document rendered, and now and then a worker rolls back a transaction after its
number was drawn. Afterwards the numbers must be exactly start..start+N-1: no gap,
no duplicate. PostgreSQL (8 processes x 50) relies on the sequence row lock;
SQLite (4 x 25) on WAL, ``BEGIN IMMEDIATE`` and the busy timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import peewee

from billingd.db.connection import is_postgres
from billingd.db.models import AuditEvent, Document, Invoice, NumberSequence
from billingd.services import parties
from billingd.services.context import ServiceContext
from billingd.services.ledger import invariant_problems

REPO = Path(__file__).resolve().parent.parent
START = 100001
ROLLBACK_EVERY = 10  # every 10th invoice of a worker is first drawn and rolled back

WORKER = r"""
import datetime as dt, json, sys, time
from decimal import Decimal
from pathlib import Path

from billingd.db.connection import open_database, write_transaction
from billingd.plugins import load_plugins
from billingd.services import invoicing
from billingd.services.context import ServiceContext


class Rollback(Exception):
    pass


url, name = sys.argv[1], sys.argv[6]
client_id, count, rollback_every = (int(a) for a in sys.argv[2:5])
folder = Path(sys.argv[5])
db = open_database(url)
db.connect()
ctx = ServiceContext(actor=name, plugins=load_plugins({}, None), data_dir=folder / "data")


def issue():
    return invoicing.invoice_for_amount(
        ctx, client_id=client_id, issue_date=dt.date(2026, 3, 2), amount=Decimal("10.00")
    )[0]


(folder / f"ready-{name}").touch()
deadline = time.monotonic() + 120
while not (folder / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("no start signal within 120 s")
    time.sleep(0.001)
numbers = []
for i in range(count):
    if rollback_every and i % rollback_every == rollback_every - 1:
        try:
            with write_transaction():  # a failure after the number was drawn
                issue()
                raise Rollback
        except Rollback:
            pass
    numbers.append(issue().number)
print(json.dumps(numbers))
"""


def _run_workers(
    url: str, client_id: int, folder: Path, workers: int, each: int
) -> list[list[str]]:
    """Start ``workers`` processes, release them together, return each one's numbers."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(client_id), str(each), str(ROLLBACK_EVERY),
             str(folder), f"worker-{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        for n in range(workers)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("ready-*"))) < workers:
            failed = [p for p in procs if p.poll() is not None]
            assert not failed, failed[0].communicate()[1]
            assert time.monotonic() < deadline, "workers did not get ready"
            time.sleep(0.01)
        (folder / "go").touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"worker failed:\n{err}"
            results.append(json.loads(out))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _num(number: str) -> int:
    return int(number.split("/")[0])


def test_r_num_3_concurrent_issuers_draw_gapless_unique_numbers(
    db: peewee.Database, ctx: ServiceContext, database_url: str, tmp_path: Path
) -> None:
    workers, each = (8, 50) if is_postgres(db) else (4, 25)
    total = workers * each
    enterprise = parties.add_enterprise(
        ctx,
        name="Acme",
        currency="EUR",
        invoice_pattern="%num%/%year%",
        invoice_start=START,
        tax_rate=Decimal("19"),
    )
    client = parties.add_client(ctx, name="Jane", enterprise_id=enterprise.id)
    db.close()  # the workers are the only writers now

    results = _run_workers(database_url, client.id, tmp_path, workers, each)

    for numbers in results:
        assert len(numbers) == each
        assert [_num(n) for n in numbers] == sorted(_num(n) for n in numbers), (
            "one worker's invoices are issued one after the other: increasing numbers"
        )
    invoices = list(Invoice.select().where(Invoice.enterprise == enterprise))
    numbers = [i.number for i in invoices]
    assert len(invoices) == total
    assert len(set(numbers)) == total, "duplicate invoice numbers"
    assert sorted(_num(n) for n in numbers) == list(range(START, START + total)), (
        "the numbers must be exactly start..start+N-1: no gap, no duplicate"
    )
    assert all(n.endswith("/2026") for n in numbers)
    assert sorted(numbers) == sorted(n for result in results for n in result)
    sequence = NumberSequence.get(
        (NumberSequence.enterprise == enterprise) & (NumberSequence.kind == "invoice")
    )
    assert sequence.next_value == START + total
    assert AuditEvent.select().where(AuditEvent.event == "invoice.issued").count() == total
    current_pdfs = Document.select().where(Document.current & (Document.format == "pdf"))
    assert {d.invoice_id for d in current_pdfs} == {i.id for i in invoices}
    assert invariant_problems(client) == []
