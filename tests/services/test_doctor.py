"""``billingd doctor``'s checks on a real database (billingd.services.doctor): a database
made through the services checks clean; each problem, made on purpose by one direct
bad write, is reported by its check and only the checks it concerns. SQLite; the
PostgreSQL test (slow) makes them all at once."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billingd.db.connection import open_database
from billingd.db.models import (
    Allocation,
    Document,
    DocumentJob,
    Enterprise,
    Invoice,
    LedgerEntry,
    OutboxMessage,
    Payment,
    Run,
    utcnow,
)
from billingd.services import (
    contracts,
    credit_notes,
    doctor,
    document_queue,
    invoice_actions,
    invoicing,
    parties,
    payments,
    runs,
)
from billingd.services.context import ServiceContext
from billingd.services.leases import claimer_id
from tests.conftest import _empty_postgres
from tests.sqlite_template import migrated_sqlite

D = Decimal
LONG_AGO = dt.timedelta(hours=2)


@dataclass
class Books:
    """What :func:`busy_books` made, by name."""

    ctx: ServiceContext
    paid: Invoice  # client A's January invoice, paid in full by the payment
    partial: Invoice  # client A's February invoice, partly paid
    credited: Invoice  # client B's January invoice, with a credit note
    void: Invoice  # client B's prepayment invoice, voided
    payment: Payment

    def check(self, name: str) -> list[str]:
        """One check's problems, as text."""
        problems = doctor.CHECKS[name](self.ctx.data_dir, doctor.scan_documents(self.ctx.data_dir))
        return [f"{p.rule} {p.subject}: {p.message}" for p in problems]

    def report(self) -> dict[str, list[str]]:
        """Every check's problems by check name (only those with some)."""
        report = doctor.run_checks(self.ctx.data_dir)
        assert not report.failed, report.failed
        found: dict[str, list[str]] = {}
        for problem in report.problems:
            found.setdefault(problem.check, []).append(f"{problem.subject}: {problem.message}")
        return found


def busy_books(ctx: ServiceContext) -> Books:
    """Two clients' invoices, a payment over two of them, a credit note, a void invoice,
    an invoice sent, every document rendered and a finished run: all through services."""
    acme = parties.add_enterprise(
        ctx, name="Acme", currency="EUR", tax_rate=D("19"), invoice_pattern="%num%/%year%",
        invoice_start=100001,
    )  # fmt: skip
    a = parties.add_client(ctx, name="A", enterprise_id=acme.id, email="a@example.com")
    b = parties.add_client(ctx, name="B", enterprise_id=acme.id)
    for client in (a, b):
        contracts.add_contract(
            ctx, client_id=client.id, description="PBX", unit_price=D("100.00"), cycle="month",
            start_date=dt.date(2026, 1, 1),
        )  # fmt: skip

    def period(client: Any, month: int) -> Invoice:
        start = dt.date(2026, month, 1)
        end = dt.date(2026, month + 1, 1) - dt.timedelta(days=1)
        return invoicing.invoice_for_period(
            ctx, client_id=client.id, period_start=start, period_end=end,
            issue_date=end + dt.timedelta(days=1),
        ).invoice  # fmt: skip

    paid, credited, partial = period(a, 1), period(b, 1), period(a, 2)
    payment = payments.record_payment(ctx, client_id=a.id, amount=D("150.00"), invoice=paid.id)
    credit_notes.issue_credit_note(ctx, invoice=credited.id, amount=D("10.00"))
    (void,) = invoicing.invoice_for_amount(
        ctx, client_id=b.id, issue_date=dt.date(2026, 3, 2), amount=D("50.00")
    )
    invoice_actions.void_invoice(ctx, void.id)
    invoice_actions.send_invoice(ctx, paid.id)
    document_queue.render_pending(ctx)
    run = runs.start_run(ctx, as_of=dt.date(2026, 3, 2), client_id=None, trigger="manual")
    runs.finish_run(ctx, run.id, "done")
    return Books(
        ctx,
        *(Invoice.get_by_id(i.id) for i in (paid, partial, credited, void)),
        Payment.get_by_id(payment.id),
    )


@pytest.fixture
def books(tmp_path: Path, loaded_plugins: Any) -> Iterator[Books]:
    database = open_database(migrated_sqlite(tmp_path / "billing.db"))
    ctx = ServiceContext(actor="tester", plugins=loaded_plugins, data_dir=tmp_path / "data")
    yield busy_books(ctx)
    database.close()


def gone_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_books_made_through_the_services_check_clean(books: Books) -> None:
    assert books.report() == {}
    report = doctor.run_checks(books.ctx.data_dir)
    assert [r.name for r in report.results] == list(doctor.CHECKS)
    assert report.exit_code == 0
    assert report.to_dict()["ok"] is True


def test_only_the_named_checks_run(books: Books) -> None:
    report = doctor.run_checks(books.ctx.data_dir, ["ledger", "runs"])
    assert [r.name for r in report.results] == ["ledger", "runs"]


# -- ledger and invoices --------------------------------------------------------------------


def test_r_led_1_a_ledger_entry_written_beside_the_services(books: Books) -> None:
    client = books.paid.client
    LedgerEntry.create(client=client, kind="invoice.issued", amount=D("5.00"), currency="EUR")
    assert books.check("ledger") == [
        f"R-LED-1 client {client.id}: ledger balance 93.00 != open balances 88.00 − "
        "unapplied credit 0.00 = 88.00"
    ]
    assert set(books.report()) == {"ledger"}


def test_r_inv_7_a_balance_changed_by_hand(books: Books) -> None:
    Invoice.update(balance=D("100.00")).where(Invoice.id == books.credited.id).execute()
    name = f"invoice {books.credited.number} (id {books.credited.id})"
    assert books.check("invoices") == [
        f"R-INV-7 {name}: balance 100.00 != total 119.00 − allocated 0 − credited 10.00 = 109.00"
    ]
    # the ledger no longer matches either: both say so
    assert set(books.report()) == {"invoices", "ledger"}


def test_r_inv_7_a_status_that_its_balance_contradicts(books: Books) -> None:
    Invoice.update(status="paid").where(Invoice.id == books.partial.id).execute()
    (problem,) = books.check("invoices")
    assert problem.endswith("status paid, its balance says partial")


def test_r_pay_2_a_payment_whose_parts_do_not_add_up(books: Books) -> None:
    Payment.update(amount=D("160.00")).where(Payment.id == books.payment.id).execute()
    assert books.check("invoices") == [
        f"R-PAY-2 payment {books.payment.id}: amount 160.00 != allocated 150.00 + unapplied "
        "0.00 + refunded 0"
    ]


# -- numbering ------------------------------------------------------------------------------


def test_r_num_3_a_number_changed_by_hand_leaves_a_gap(books: Books) -> None:
    Invoice.update(number="100009/2026").where(Invoice.id == books.void.id).execute()
    assert books.check("numbering") == [
        "R-NUM-3 enterprise 1 invoice numbers: gap: 100004..100008 missing between "
        "100003/2026 and 100009/2026"
    ]


def test_r_num_6_an_issue_date_moved_back_by_hand(books: Books) -> None:
    Invoice.update(issue_date=dt.date(2026, 1, 15)).where(Invoice.id == books.partial.id).execute()
    assert books.check("numbering") == [
        "R-NUM-6 enterprise 1 invoice numbers: 100003/2026 is dated 2026-01-15, before "
        "100002/2026 (2026-02-01)"
    ]


def test_r_num_3_a_lost_first_number_but_not_a_changed_start(books: Books) -> None:
    Enterprise.update(invoice_start=100000).execute()  # as if 100000 had been issued
    (problem,) = books.check("numbering")
    assert problem.endswith("start at 100001/2026: 100000 missing")
    Enterprise.update(invoice_start=100001).execute()
    # a start changed through the service: the running sequence keeps counting
    parties.update_enterprise(books.ctx, books.paid.enterprise_id, invoice_start=500)
    assert books.check("numbering") == []


# -- allocations ----------------------------------------------------------------------------


def test_r_inv_8_an_allocation_on_an_invoice_voided_by_hand(books: Books) -> None:
    Invoice.update(status="void", balance=D(0)).where(Invoice.id == books.paid.id).execute()
    allocation = Allocation.get(Allocation.invoice == books.paid.id)
    assert books.check("allocations") == [
        f"R-INV-8 allocation {allocation.id}: its invoice id {books.paid.id} is void"
    ]


def test_allocations_and_credit_notes_of_deleted_rows(books: Books) -> None:
    database = Invoice._meta.database
    database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        Allocation.update(invoice=9999).where(Allocation.invoice == books.partial.id).execute()
        Payment.delete().where(Payment.id == books.payment.id).execute()
        database.execute_sql(
            "UPDATE credit_note SET invoice_id = 9998 WHERE invoice_id = ?", (books.credited.id,)
        )
    finally:
        database.execute_sql("PRAGMA foreign_keys = ON")
    found = books.check("allocations")
    assert any(m.endswith("its invoice id 9999 does not exist") for m in found)
    assert sum(m.endswith("its payment does not exist") for m in found) == 2
    assert any(m.startswith("R-CN-1 credit note CN-1") for m in found)


# -- documents ------------------------------------------------------------------------------


def pdf_of(invoice: Invoice) -> Path:
    return Path(Document.get((Document.invoice == invoice.id) & (Document.format == "pdf")).path)


def test_r_inv_11_a_ready_document_whose_file_is_missing_or_empty(books: Books) -> None:
    pdf_of(books.paid).unlink()
    pdf_of(books.credited).write_bytes(b"")
    found = books.check("documents")
    assert len(found) == 2
    assert f"pdf file missing: {pdf_of(books.paid)}" in found[0]
    assert f"pdf file is empty: {pdf_of(books.credited)}" in found[1]


def test_stray_files_a_crash_or_a_full_disk_left_behind(books: Books) -> None:
    folder = pdf_of(books.paid).parent
    (folder / "100099_2026-99.pdf").write_bytes(b"%PDF-1.7 orphan")
    (folder / "100003_2026-3.pdf.partial").write_bytes(b"")
    found = books.check("documents")
    assert sorted(found) == [
        f" file {folder / '100003_2026-3.pdf.partial'}: stray: an empty file that no "
        "document names",
        f" file {folder / '100099_2026-99.pdf'}: stray: 15 bytes that no document names",
    ]


def test_a_file_a_live_render_is_writing_is_not_stray(books: Books) -> None:
    """A render under way writes its files, then commits: its file is no leftover yet."""
    job = document_queue.enqueue(books.ctx, books.partial, ["pdf"])
    DocumentJob.update(state="rendering", claimed_by=claimer_id(), claimed_at=utcnow()).where(
        DocumentJob.id == job.id
    ).execute()
    (pdf_of(books.partial).parent / "in-flight.v2.pdf").write_bytes(b"%PDF")
    assert books.check("documents") == []


def test_document_jobs_stuck_rendering_or_failed_for_good(books: Books) -> None:
    first = document_queue.enqueue(books.ctx, books.paid, ["pdf"])
    second = document_queue.enqueue(books.ctx, books.partial, ["pdf"])
    DocumentJob.update(
        state="rendering", claimed_by=f"{socket.gethostname()}:{gone_pid()}:x",
        claimed_at=utcnow(),
    ).where(DocumentJob.id == first.id).execute()  # fmt: skip
    DocumentJob.update(state="failed", attempts=5, error="boom", retry_at=None).where(
        DocumentJob.id == second.id
    ).execute()
    found = books.check("documents")
    assert found == [
        f" document job {first.id} (invoice id {books.paid.id} v2): stuck rendering: its "
        "claimer's process is gone",
        f" document job {second.id} (invoice id {books.partial.id} v2): failed for good "
        "after 5 attempts: boom",
    ]


# -- outbox and runs ------------------------------------------------------------------------


def test_r_del_3_outbox_messages_stuck_sending_or_failed_for_good(books: Books) -> None:
    message = OutboxMessage.get(OutboxMessage.kind == "invoice")
    others = [
        OutboxMessage.create(channel="email", kind="invoice", invoice=books.paid.id)
        for _ in range(3)
    ]

    def change(row: OutboxMessage, **fields: Any) -> None:
        OutboxMessage.update(**fields).where(OutboxMessage.id == row.id).execute()

    change(message, state="sending", claimed_by="elsewhere:1:x", claimed_at=utcnow() - LONG_AGO)
    here_gone = f"{socket.gethostname()}:{gone_pid()}:x"
    change(others[0], state="sending", claimed_by=here_gone, claimed_at=utcnow())
    change(others[1], state="failed", attempts=12, last_error="550 no such user")
    change(others[2], state="sending", claimed_by=claimer_id(), claimed_at=utcnow())  # live
    found = books.check("outbox")
    assert len(found) == 3
    assert found[0].startswith(f"R-DEL-3 outbox message {message.id} (email invoice): stuck")
    assert "longer than its lease of 0:10:00" in found[0]
    assert found[1].endswith("stuck sending: its claimer's process is gone")
    assert found[2].endswith("failed for good after 12 attempts: 550 no such user")


def test_r_run_11_runs_left_running_by_a_process_that_is_gone(books: Books) -> None:
    def running(**fields: Any) -> Run:
        return Run.create(as_of=dt.date(2026, 3, 2), status="running", **fields)

    dead = running(host=socket.gethostname(), pid=gone_pid(), heartbeat_at=utcnow())
    lapsed = running(host="elsewhere", pid=1, heartbeat_at=utcnow() - LONG_AGO)
    running(host=socket.gethostname(), pid=os.getpid(), heartbeat_at=utcnow())  # alive
    found = books.check("runs")
    assert [m.split(":")[0] for m in found] == [
        f"R-RUN-11 run {dead.id}",
        f"R-RUN-11 run {lapsed.id}",
    ]
    assert "the next daemon marks it interrupted" in found[0]


def test_a_check_that_cannot_run_is_reported_and_the_others_still_run(books: Books) -> None:
    Invoice._meta.database.execute_sql("DROP TABLE outbox_message")
    report = doctor.run_checks(books.ctx.data_dir)
    (failed,) = report.failed
    assert failed.name == "outbox" and "outbox_message" in str(failed.error)
    assert report.exit_code == 2
    assert [r.name for r in report.results if r.error is None] == [
        n for n in doctor.CHECKS if n != "outbox"
    ]


# -- PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.slow
def test_every_check_on_postgresql(pg_url: str, tmp_path: Path, loaded_plugins: Any) -> None:
    database = open_database(pg_url)
    _empty_postgres(database)
    ctx = ServiceContext(actor="tester", plugins=loaded_plugins, data_dir=tmp_path / "data")
    try:
        books = busy_books(ctx)
        assert books.report() == {}
        LedgerEntry.create(client=books.paid.client, kind="x", amount=D("1"), currency="EUR")
        Invoice.update(status="paid").where(Invoice.id == books.partial.id).execute()
        moved = dt.date(2026, 1, 15)
        Invoice.update(issue_date=moved).where(Invoice.id == books.partial.id).execute()
        Invoice.update(status="void", balance=D(0)).where(Invoice.id == books.paid.id).execute()
        (pdf_of(books.credited).parent / "orphan.pdf").write_bytes(b"")
        OutboxMessage.update(state="failed").execute()
        Run.create(as_of=dt.date(2026, 3, 2), host="elsewhere", pid=1,
                   heartbeat_at=utcnow() - LONG_AGO)  # fmt: skip
        found = books.report()
        assert set(found) == set(doctor.CHECKS), found
    finally:
        database.close()
