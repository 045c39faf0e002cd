"""R-NUM-3 under real concurrency: several OS processes issue invoices for one enterprise.

Every worker is its own Python process with its own database connection; all start
at the same instant (a start file), each invoice is its own transaction with its
document rendered, and now and then a worker rolls back a transaction after its
number was drawn. Afterwards the numbers must be exactly start..start+N-1: no gap,
no duplicate. PostgreSQL (8 processes x 50) relies on the sequence row lock;
SQLite (4 x 25) on WAL, ``BEGIN IMMEDIATE`` and the busy timeout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import pytest

from billingd.db.connection import is_postgres
from billingd.db.models import AuditEvent, Document, Invoice, NumberSequence
from billingd.services import document_queue, invoicing, parties
from billingd.services.context import ServiceContext
from billingd.services.ledger import invariant_problems

pytestmark = pytest.mark.slow  # several worker processes racing for numbers

REPO = Path(__file__).resolve().parents[2]
START = 100001
ROLLBACK_EVERY = 10  # every 10th invoice of a worker is first drawn and rolled back

PREAMBLE = r"""
import datetime as dt, json, sys, time
from decimal import Decimal
from pathlib import Path

from billingd.db.connection import open_database, write_transaction
from billingd.errors import BillingError
from billingd.plugins import load_plugins
from billingd.services import credit_notes, invoicing, payments
from billingd.services.context import ServiceContext

url, folder, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
args = json.loads(sys.argv[4])
db = open_database(url)
db.connect()
ctx = ServiceContext(actor=name, plugins=load_plugins({}, None), data_dir=folder / "data")
(folder / f"ready-{name}").touch()
deadline = time.monotonic() + 120
while not (folder / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("no start signal within 120 s")
    time.sleep(0.001)
"""

ISSUE_INVOICES = r"""
class Rollback(Exception):
    pass


def issue():
    return invoicing.invoice_for_amount(
        ctx, client_id=args["client"], issue_date=dt.date(2026, 3, 2), amount=Decimal("10.00")
    )[0]


numbers = []
for i in range(args["count"]):
    if i % args["rollback_every"] == args["rollback_every"] - 1:
        try:
            with write_transaction():  # a failure after the number was drawn
                issue()
                raise Rollback
        except Rollback:
            pass
    numbers.append(issue().number)
print(json.dumps(numbers))
"""

CREDIT_OR_PAY = r"""
try:
    if args["action"] == "credit":
        credit_notes.issue_credit_note(ctx, invoice=args["invoice"], amount=Decimal(args["amount"]))
    else:
        payments.record_payment(
            ctx, client_id=args["client"], amount=Decimal(args["amount"]), invoice=args["invoice"]
        )
    print(json.dumps("ok"))
except BillingError as exc:
    print(json.dumps(exc.message))
"""


def _run_workers(url: str, folder: Path, snippet: str, args: list[dict[str, Any]]) -> list[Any]:
    """Run one process per ``args`` entry, release them together, return what each printed."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PREAMBLE + snippet, url, str(folder), f"worker-{n}",
             json.dumps(worker_args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        for n, worker_args in enumerate(args)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("ready-*"))) < len(procs):
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

    args = {"client": client.id, "count": each, "rollback_every": ROLLBACK_EVERY}
    results = _run_workers(database_url, tmp_path, ISSUE_INVOICES, [args] * workers)

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
    document_queue.render_pending(ctx)  # rendered after the commits (R-INV-11)
    current_pdfs = Document.select().where(Document.current & (Document.format == "pdf"))
    assert {d.invoice_id for d in current_pdfs} == {i.id for i in invoices}
    assert invariant_problems(client) == []


def _balance_problems(invoice: Invoice) -> list[str]:
    invoice = Invoice.get_by_id(invoice.id)
    allocated = sum((a.amount for a in invoice.allocations), Decimal(0))
    credited = sum((n.amount for n in invoice.credit_notes), Decimal(0))
    problems = []
    if invoice.balance != invoice.total - allocated - credited:
        problems.append(
            f"balance {invoice.balance} != total {invoice.total} - allocated {allocated} "
            f"- credited {credited}"
        )
    if credited > invoice.total or invoice.balance < 0:
        problems.append(f"credited {credited} on a total of {invoice.total}")
    return problems


def test_r_cn_1_concurrent_credit_notes_and_payments_never_exceed_the_balance(
    db: peewee.Database,
    ctx: ServiceContext,
    database_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Processes at once on one invoice of 100.00 (8 on PostgreSQL, 4 on SQLite): credit
    notes first, then a mix of credit notes and targeted payments. R-CN-1: never more
    credit than balance, and balance = total - allocations - credit notes."""
    workers, amount = (8, Decimal("20.00")) if is_postgres(db) else (4, Decimal("30.00"))
    enterprise = parties.add_enterprise(ctx, name="Acme", currency="EUR", tax_rate=Decimal("19"))
    client = parties.add_client(ctx, name="Jane", enterprise_id=enterprise.id)
    first, second = invoicing.invoice_for_amount(
        ctx,
        client_id=client.id,
        issue_date=dt.date(2026, 3, 2),
        amount=Decimal("100.00"),
        count=2,
    )
    db.close()

    credit = {"action": "credit", "invoice": first.id, "amount": str(amount), "client": client.id}
    results = _run_workers(database_url, tmp_path / "credit", CREDIT_OR_PAY, [credit] * workers)
    assert results.count("ok") == int(Decimal(100) // amount), results
    assert all("exceeds the balance" in r or "no balance" in r for r in results if r != "ok")
    assert _balance_problems(first) == []

    mixed = [
        {**credit, "invoice": second.id, "action": "credit" if n % 2 else "pay"}
        for n in range(workers)
    ]
    _run_workers(database_url, tmp_path / "mixed", CREDIT_OR_PAY, mixed)
    assert _balance_problems(second) == []
    assert invariant_problems(client) == []
