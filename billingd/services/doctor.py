"""``billingd doctor``: read a billing database (and its documents directory) and report
every broken invariant at once.

One function per check reads what its rules in :mod:`billingd.domain.invariants`
need and returns their problems; :func:`run_checks` runs them over one consistent
snapshot (a read transaction; REPEATABLE READ on PostgreSQL), writing nothing, so a
daemon may run meanwhile. The chaos tests call the checks after each fault.

=============  ==================================================================
check          what it finds
=============  ==================================================================
ledger         an owner whose ledger is not Σ open balances − unapplied credit
invoices       totals that are not their lines', balances that are not total −
               allocated − credited, statuses that do not follow; payments whose
               allocations, credit and refunds do not add up to their amount
numbering      gaps, repeated values and numbers out of date order per sequence
allocations    allocations or credit notes on a missing, void or draft invoice,
               allocations of a missing payment
documents      ready document jobs whose files are missing or empty, jobs stuck
               rendering or failed for good, stray files in the documents directory
outbox         messages stuck sending (claim lapsed, claimer gone), failed for good
runs           runs left "running" whose process is gone (the lease rules of runs)
=============  ==================================================================
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee

from billingd.db.connection import decimal_sum, is_postgres, read_transaction
from billingd.db.models import (
    Allocation,
    AuditEvent,
    CreditNote,
    Document,
    DocumentJob,
    Enterprise,
    Invoice,
    InvoiceLine,
    LedgerEntry,
    OutboxMessage,
    Payment,
    database_proxy,
    utcnow,
)
from billingd.domain import invariants
from billingd.domain.invariants import (
    InvoiceSums,
    Numbered,
    NumberingSettings,
    Owner,
    Problem,
    StoredFile,
)
from billingd.hardening import mask_secrets
from billingd.services import document_queue, leases, outbox, runs

OPEN = ("open", "partial")


def _owner(client: int | None, reseller: int | None) -> Owner:
    if client is not None:
        return ("client", client)
    return ("reseller", reseller) if reseller is not None else ("nobody", 0)


def _decimal(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def _totals(amount: peewee.Field, *keys: peewee.Field, where: Any = None) -> dict[Any, Decimal]:
    """Σ ``amount`` per key (per tuple of keys when several), exactly."""
    query = amount.model.select(*keys, decimal_sum(amount)).group_by(*keys)
    if where is not None:
        query = query.where(where)
    found: dict[Any, Decimal] = {}
    for *key, total in query.tuples().iterator():
        found[key[0] if len(key) == 1 else tuple(key)] = _decimal(total)
    return found


# -- the checks ---------------------------------------------------------------------------


def check_ledger() -> list[Problem]:
    """R-LED-1 for every client and reseller."""
    entries = _totals(LedgerEntry.amount, LedgerEntry.client, LedgerEntry.reseller)
    balances = _totals(
        Invoice.balance, Invoice.client, Invoice.reseller, where=Invoice.status.in_(OPEN)
    )
    credit = _totals(Payment.unallocated, Payment.client)
    return invariants.ledger_problems(
        {_owner(*key): total for key, total in entries.items()},
        {_owner(*key): total for key, total in balances.items()},
        {("client", key): total for key, total in credit.items()},
    )


def check_invoices() -> list[Problem]:
    """Every invoice's totals, balance and status; every payment's parts."""
    nets = _totals(InvoiceLine.net, InvoiceLine.invoice)
    taxes = _totals(InvoiceLine.tax, InvoiceLine.invoice)
    allocated = _totals(Allocation.amount, Allocation.invoice)
    credited = _totals(CreditNote.amount, CreditNote.invoice)
    zero = Decimal(0)
    problems = []
    columns = (Invoice.id, Invoice.number, Invoice.status, Invoice.subtotal, Invoice.tax)
    for row in Invoice.select(*columns, Invoice.total, Invoice.balance).tuples().iterator():
        invoice_id, number, status, subtotal, tax, total, balance = row
        problems += invariants.invoice_problems(
            InvoiceSums(
                invoice_id, number, status, subtotal, tax, total, balance,
                nets.get(invoice_id, zero), taxes.get(invoice_id, zero),
                allocated.get(invoice_id, zero), credited.get(invoice_id, zero),
            )
        )  # fmt: skip
    by_payment = _totals(Allocation.amount, Allocation.payment)
    payments = Payment.select(Payment.id, Payment.amount, Payment.unallocated, Payment.refunded)
    for payment_id, amount, unallocated, refunded in payments.tuples().iterator():
        problems += invariants.payment_problems(
            payment_id, amount, unallocated, refunded, by_payment.get(payment_id, zero)
        )
    return problems


def check_numbering() -> list[Problem]:
    """Every enterprise's invoice and credit note sequences."""
    changes: dict[int, list[tuple[dt.datetime, dict[str, Any]]]] = {}
    updates = (
        AuditEvent.select(AuditEvent.subject_id, AuditEvent.created_at, AuditEvent.details)
        .where(AuditEvent.event == "enterprise.updated")
        .where(AuditEvent.subject_type == "enterprise")
        .order_by(AuditEvent.id)
    )
    for subject, when, details in updates.tuples():
        changes.setdefault(subject, []).append((when, (details or {}).get("changes") or {}))
    problems = []
    for enterprise in Enterprise.select().order_by(Enterprise.id):
        for kind, model in (("invoice", Invoice), ("credit note", CreditNote)):
            current = NumberingSettings(
                *(getattr(enterprise, name) for name in invariants.NUMBERING_FIELDS[kind])
            )
            timeline = invariants.numbering_timeline(kind, current, changes.get(enterprise.id, []))
            documents = (
                Numbered(*row)
                for row in model.select(model.id, model.number, model.issue_date, model.created_at)
                .where((model.enterprise == enterprise.id) & model.number.is_null(False))
                .tuples()
                .iterator()
            )
            problems += invariants.numbering_problems(
                f"enterprise {enterprise.id}", kind, documents, timeline
            )
    return problems


def check_allocations() -> list[Problem]:
    """Allocations and credit notes pointing at missing, void or draft rows."""
    problems = []
    payments = Payment.alias()
    allocations = (
        Allocation.select(Allocation.id, payments.id, Allocation.invoice, Invoice.status)
        .join(payments, peewee.JOIN.LEFT_OUTER, on=(Allocation.payment == payments.id))
        .switch(Allocation)
        .join(Invoice, peewee.JOIN.LEFT_OUTER, on=(Allocation.invoice == Invoice.id))
        .where(payments.id.is_null() | Invoice.id.is_null() | Invoice.status.in_(("void", "draft")))
    )
    for allocation_id, payment_id, invoice_id, status in allocations.tuples():
        problems += invariants.allocation_problems(
            allocation_id, payment_id is not None, invoice_id, status
        )
    notes = (
        CreditNote.select(CreditNote.id, CreditNote.number, CreditNote.invoice, Invoice.status)
        .join(Invoice, peewee.JOIN.LEFT_OUTER, on=(CreditNote.invoice == Invoice.id))
        .where(Invoice.id.is_null() | Invoice.status.in_(("void", "draft")))
    )
    for note_id, number, invoice_id, status in notes.tuples():
        problems += invariants.credit_note_problems(note_id, number, invoice_id, status)
    return problems


def scan_documents(data_dir: Path) -> list[StoredFile]:
    """Every file under ``data_dir/documents``, with its size and time (UTC)."""
    found = []
    for folder, _, names in os.walk(data_dir / "documents"):
        for name in names:
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError):
                info = os.stat(path)
                modified = dt.datetime.fromtimestamp(info.st_mtime, dt.UTC).replace(tzinfo=None)
                found.append(StoredFile(os.path.normpath(path), info.st_size, modified))
    return found


def _job_name(job: DocumentJob) -> str:
    if job.invoice_id is not None:
        return f"document job {job.id} (invoice id {job.invoice_id} v{job.version})"
    return f"document job {job.id} (credit note id {job.credit_note_id} v{job.version})"


def check_documents(data_dir: Path, files: list[StoredFile] | None = None) -> list[Problem]:
    """Ready jobs' files, jobs stuck or failed for good, and files no document names;
    ``files`` is :func:`scan_documents` of ``data_dir`` when taken before the snapshot."""
    if files is None:
        files = scan_documents(data_dir)
    now = utcnow()
    rows: dict[tuple[int | None, int | None, int], dict[str, str]] = {}
    for invoice_id, note_id, version, fmt, path in (
        Document.select(
            Document.invoice, Document.credit_note, Document.version, Document.format, Document.path
        )
        .tuples()
        .iterator()
    ):  # fmt: skip
        rows.setdefault((invoice_id, note_id, version), {})[fmt] = os.path.normpath(path)
    sizes: dict[str, int | None] = {f.path: f.size for f in files}
    problems: list[Problem] = []
    in_flight: list[dt.datetime] = []
    for job in DocumentJob.select().where(DocumentJob.state != "pending").iterator():
        if job.state == "ready":
            paths = rows.get((job.invoice_id, job.credit_note_id, job.version), {})
            for path in paths.values():
                if path not in sizes:  # outside the scanned directory
                    sizes[path] = _size(path)
            problems += invariants.missing_files(_job_name(job), job.formats, paths, sizes)
        elif job.state == "rendering":
            stuck = invariants.stuck_claim(
                job.claimed_at, leases.claimer_gone(job.claimed_by), now, document_queue.LEASE
            )
            if stuck:
                problems.append(Problem("documents", _job_name(job), f"stuck rendering: {stuck}"))
            elif job.claimed_at is not None:
                in_flight.append(job.claimed_at)
        elif job.state == "failed" and job.retry_at is None:
            problems.append(
                Problem(
                    "documents",
                    _job_name(job),
                    f"failed for good after {job.attempts} attempts: {job.error}",
                )
            )
    named = {path for paths in rows.values() for path in paths.values()}
    return problems + invariants.stray_files(
        files, named, in_flight_since=min(in_flight, default=None)
    )


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def check_outbox() -> list[Problem]:
    """Messages stuck sending, or failed for good (they wait for an operator)."""
    now = utcnow()
    problems = []
    query = OutboxMessage.select().where(OutboxMessage.state.in_(("sending", "failed")))
    for message in query.order_by(OutboxMessage.id).iterator():
        name = f"outbox message {message.id} ({message.channel} {message.kind})"
        if message.state == "failed":
            problems.append(
                Problem(
                    "outbox",
                    name,
                    f"failed for good after {message.attempts} attempts: "
                    f"{mask_secrets(message.last_error)}",
                    "R-DEL-3",
                )
            )
            continue
        stuck = invariants.stuck_claim(
            message.claimed_at, leases.claimer_gone(message.claimed_by), now, outbox.LEASE
        )
        if stuck:
            problems.append(Problem("outbox", name, f"stuck sending: {stuck}", "R-DEL-3"))
    return problems


def check_runs() -> list[Problem]:
    """Runs left "running" by a process that is gone (:func:`runs.interrupted_runs`)."""
    return [
        Problem(
            "runs",
            f"run {run.id}",
            f"running since {run.started_at:%Y-%m-%d %H:%M:%S} UTC (as of {run.as_of}, "
            f"{run.done}/{run.total} done) but its process {run.host}:{run.pid} is gone; "
            "the next daemon marks it interrupted",
            "R-RUN-11",
        )
        for run in runs.interrupted_runs()
    ]


# -- running them -------------------------------------------------------------------------


CHECKS: dict[str, Callable[[Path, list[StoredFile]], list[Problem]]] = {
    "ledger": lambda _, __: check_ledger(),
    "invoices": lambda _, __: check_invoices(),
    "numbering": lambda _, __: check_numbering(),
    "allocations": lambda _, __: check_allocations(),
    "documents": check_documents,
    "outbox": lambda _, __: check_outbox(),
    "runs": lambda _, __: check_runs(),
}
"""Every check by name, in the order they run and are reported."""


@dataclass
class CheckResult:
    name: str
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None  # the check could not run

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": not self.problems and self.error is None,
            "problems": len(self.problems),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass
class Report:
    """What :func:`run_checks` found."""

    results: list[CheckResult]

    @property
    def problems(self) -> list[Problem]:
        return [p for result in self.results for p in result.problems]

    @property
    def failed(self) -> list[CheckResult]:
        """The checks that could not run."""
        return [result for result in self.results if result.error is not None]

    @property
    def exit_code(self) -> int:
        """For monitoring: 0 all well, 1 problems found, 2 a check could not run."""
        return 2 if self.failed else 1 if self.problems else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0,
            "problems": [p.to_dict() for p in self.problems],
            "checks": [result.to_dict() for result in self.results],
        }


@contextlib.contextmanager
def snapshot() -> Iterator[None]:
    """One consistent, read-only view for all the checks."""
    with read_transaction():
        if is_postgres():
            database_proxy.obj.execute_sql(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
            )
        yield


def run_checks(data_dir: Path, names: list[str] | None = None) -> Report:
    """Run the named checks (default: all) on the bound database; a check that fails
    to run is reported as such and the others still run."""
    files = scan_documents(data_dir)  # before the snapshot: see check_documents
    results = []
    with snapshot():
        for name in names or list(CHECKS):
            result = CheckResult(name)
            began = time.perf_counter()
            try:
                with database_proxy.obj.atomic():  # a savepoint: a failed query stays here
                    result.problems = CHECKS[name](data_dir, files)
            except (peewee.DatabaseError, OSError, ValueError) as exc:
                result.error = f"{type(exc).__name__}: {exc}".strip()
            result.seconds = time.perf_counter() - began
            results.append(result)
    return Report(results)
