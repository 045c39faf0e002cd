"""The durable document queue: documents are rendered after the issuing transaction
(R-INV-11, R-DEL-1).

Issuing an invoice or a credit note, or editing an invoice's billing address, only
adds a :class:`~billingd.db.models.DocumentJob` in its own transaction: one job per
document version, naming the formats to render. Rendering happens later, in three
steps, each of which may be cut short by a crash without harm:

1. :func:`claim` marks due jobs ``rendering`` for one claimer (``host:pid:token``);
2. :func:`prepare` reads what each job needs (the document dict a renderer receives,
   the files' paths, the statistics file) and a renderer turns it into bytes, in the
   daemon's worker processes (:mod:`billingd.document_worker`) or in-process
   (:func:`render_pending`);
3. :func:`finish` writes each job's files and, in the same transaction, its Document
   rows and its new state, and only while the job is still this claimer's.

Exactly once per version: a version's file names are fixed (the version is in them),
so a render repeated after a crash between writing the files and committing replaces
the same files, and the job's state says whether its Document rows exist. A job left
``rendering`` by a daemon that died is taken up again: at once by the next daemon on
the same host (its claimer's process is gone), by any other after :data:`LEASE`.

A failed render marks the job ``failed`` with the error; it is tried again
:data:`MAX_ATTEMPTS` times in all, after a pause that doubles from
:data:`BACKOFF` on the daemon's clock (the test clock when it is on). A job whose
files the disk refuses (full) fails alone, none of its files left behind, and is
tried again until there is space, at least every :data:`DISK_FULL_LONGEST`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peewee import fn

from billingd.db.connection import read_transaction, write_transaction
from billingd.db.faults import fault_of
from billingd.db.models import (
    Client,
    CreditNote,
    Document,
    DocumentJob,
    Enterprise,
    Invoice,
    utcnow,
)
from billingd.db.prepared import PreparedInsert, PreparedSelect, Slot
from billingd.errors import Conflict
from billingd.services import documents, leases, statistics
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.document_data import credit_note_document, invoice_document
from billingd.services.leases import claimer_id

log = logging.getLogger("billingd.documents")

LEASE = dt.timedelta(minutes=10)
"""How long (real time) a claim holds before another claimer may take the job over."""
MAX_ATTEMPTS = 5
"""Renders tried per job before it stays failed."""
BACKOFF = (dt.timedelta(seconds=30), dt.timedelta(hours=1))
"""The pause after a failed render: the first, doubling up to the second."""
DISK_FULL_LONGEST = dt.timedelta(minutes=5)
"""The longest pause before a job the disk refused is tried again (it never gives up)."""
BATCH = 64
"""Jobs claimed at once by :func:`render_pending`."""

Render = Callable[[str, dict[str, Any]], documents.Rendered]
"""Renders a document dict with the renderer plugin of that name."""

# -- issuing: queue a version --------------------------------------------------------------


def _owner_column(owner: Invoice | CreditNote) -> tuple[Any, Any]:
    if isinstance(owner, Invoice):
        return DocumentJob.invoice, Document.invoice
    return DocumentJob.credit_note, Document.credit_note


def _last_job(kind: str) -> Any:
    column = DocumentJob.invoice if kind == "invoice" else DocumentJob.credit_note
    return DocumentJob.select(fn.MAX(DocumentJob.version)).where(column == Slot("owner"))


def _documents_per_format(kind: str) -> Any:
    column = Document.invoice if kind == "invoice" else Document.credit_note
    return (
        Document.select(fn.COUNT(Document.id))
        .where(column == Slot("owner"))
        .group_by(Document.format)
    )


LAST_JOB = PreparedSelect(_last_job)
DOCUMENTS_PER_FORMAT = PreparedSelect(_documents_per_format)
INSERT_JOB = PreparedInsert(DocumentJob)


def _next_version(owner: Invoice | CreditNote) -> int:
    """One more than the newest version: of the jobs, or of the documents stored before
    the queue existed (each re-render added a row per format then)."""
    kind = ("invoice",) if isinstance(owner, Invoice) else ("credit_note",)
    (last,) = LAST_JOB.first(kind, owner=owner.id) or (None,)
    if last:
        return int(last) + 1
    per_format = DOCUMENTS_PER_FORMAT.tuples(kind, owner=owner.id)
    return max((n for (n,) in per_format), default=0) + 1


def enqueue(
    ctx: ServiceContext, owner: Invoice | CreditNote, formats: Iterable[str]
) -> DocumentJob:
    """Queue the next version of an invoice's or credit note's documents; call inside
    the issuing write transaction. The worker is told after the commit
    (``document.queued``)."""
    kind = "invoice" if isinstance(owner, Invoice) else "credit_note"
    job = DocumentJob(
        invoice=owner if kind == "invoice" else None,
        credit_note=owner if kind == "credit_note" else None,
        version=_next_version(owner),
        formats=list(dict.fromkeys(formats)),
        actor=ctx.actor,
    )
    INSERT_JOB.save(job)
    ctx.emit(
        "document.queued",
        {"job_id": job.id, "kind": kind, f"{kind}_id": owner.id, "number": owner.number,
         "version": job.version, "formats": job.formats},
    )  # fmt: skip
    return job


def latest_job(owner: Invoice | CreditNote) -> DocumentJob | None:
    job_column, _ = _owner_column(owner)
    return (
        DocumentJob.select()
        .where(job_column == owner.id)
        .order_by(DocumentJob.version.desc())
        .first()
    )


def rerender_invoice(ctx: ServiceContext, invoice: Invoice) -> DocumentJob | None:
    """Queue a new version of an invoice's rendered formats after an edit of what they
    show (R-INV-12); the previous files are kept. A version not yet started renders
    the edit already; an invoice never rendered gets none."""
    latest = latest_job(invoice)
    if latest is not None and latest.state == "pending":
        return latest
    if latest is not None:
        formats = [f for f in latest.formats if f not in documents.BUILT_IN_FORMATS]
    elif documents.current_document(invoice, "pdf") is not None:
        formats = ["pdf"]
    else:
        return None
    return enqueue(ctx, invoice, formats) if formats else None


# -- rendering: claim, prepare, finish ------------------------------------------------------


def _due(now: dt.datetime, real_now: dt.datetime) -> Any:
    """Jobs to render: new, failed and due for another try, or claimed by a lapsed lease."""
    state, retry_at = DocumentJob.state, DocumentJob.retry_at
    return (
        (state == "pending")
        | ((state == "failed") & retry_at.is_null(False) & (retry_at <= now))
        | ((state == "rendering") & (DocumentJob.claimed_at < real_now - LEASE))
    )


def claim(ctx: ServiceContext, limit: int, claimer: str) -> list[int]:
    """Mark up to ``limit`` due jobs ``rendering`` for ``claimer``, oldest first."""
    real_now = utcnow()
    due = _due(ctx.now_utc(), real_now)
    with write_transaction():
        ids = [
            job.id
            for job in DocumentJob.select(DocumentJob.id)
            .where(due)
            .order_by(DocumentJob.id)
            .limit(limit)
        ]
        if ids:
            DocumentJob.update(
                state="rendering",
                claimed_at=real_now,
                claimed_by=claimer,
                attempts=DocumentJob.attempts + 1,
            ).where(DocumentJob.id.in_(ids)).execute()
    return ids


def release_abandoned(claimer: str, keep: Iterable[int] = ()) -> int:
    """Put back to ``pending`` the jobs a dead process left ``rendering`` on this host,
    and ``claimer``'s own not in ``keep`` (see :mod:`billingd.services.leases`)."""
    return len(leases.release_abandoned(DocumentJob, "rendering", "pending", claimer, keep))


@dataclass
class RenderTask:
    """What rendering one job needs, with no database: picklable for worker processes."""

    job_id: int
    kind: str  # invoice | credit_note
    owner_id: int
    number: str | None
    client_id: int | None
    version: int
    paths: dict[str, str] = field(default_factory=dict)  # format -> file
    renders: dict[str, dict[str, Any]] = field(default_factory=dict)  # format -> document
    made: dict[str, bytes] = field(default_factory=dict)  # built-in format -> bytes
    error: str | None = None  # the job cannot be rendered (an unknown format)


@dataclass
class Outcome:
    """A rendered job (``files`` by format) or its error."""

    task: RenderTask
    files: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _prepare_one(ctx: ServiceContext, job: DocumentJob) -> RenderTask:
    owner: Invoice | CreditNote = job.invoice if job.invoice_id is not None else job.credit_note
    invoice = owner if isinstance(owner, Invoice) else owner.invoice
    task = RenderTask(
        job_id=job.id,
        kind="invoice" if isinstance(owner, Invoice) else "credit_note",
        owner_id=owner.id,
        number=owner.number,
        client_id=invoice.client_id,
        version=job.version,
    )
    try:
        file_stem = documents.stem(owner.number, owner.id)
        document = None
        for fmt in job.formats:
            suffix = documents.file_suffix(fmt, ctx.plugins)
            path = documents.document_path(
                ctx.data_dir, owner.enterprise_id, file_stem, suffix, job.version
            )
            task.paths[fmt] = str(path)
            if fmt == "stats-csv":
                if not isinstance(owner, Invoice):
                    raise ValueError("a credit note has no statistics file")
                task.made[fmt] = documents.invoice_statistics(owner)
                continue
            if fmt == "stats-pdf":
                if not isinstance(owner, Invoice):
                    raise ValueError("a credit note has no statistics file")
                task.renders[fmt] = statistics.statistics_document(owner)
                continue
            if document is None:
                document = (
                    invoice_document(owner)
                    if isinstance(owner, Invoice)
                    else credit_note_document(owner)
                )
            task.renders[fmt] = document
    except Exception as exc:
        task.error = describe(exc)
    return task


def _with_parties(jobs: list[DocumentJob]) -> None:
    """Give the jobs their invoices, with enterprise and client, read with one query
    per table for the batch instead of a few per job."""
    wanted = sorted({job.invoice_id for job in jobs} - {None})
    if not wanted:
        return
    query = Invoice.select(Invoice, Enterprise).join(Enterprise).where(Invoice.id.in_(wanted))
    invoices = {invoice.id: invoice for invoice in query}
    owners = sorted({i.client_id for i in invoices.values()} - {None})
    clients = {c.id: c for c in Client.select().where(Client.id.in_(owners))}
    for invoice in invoices.values():
        if invoice.client_id is not None:
            invoice.client = clients[invoice.client_id]
    for job in jobs:
        if job.invoice_id in invoices:
            job.invoice = invoices[job.invoice_id]


def prepare(ctx: ServiceContext, job_ids: list[int]) -> list[RenderTask]:
    """The claimed jobs' render tasks, read in one snapshot."""
    with read_transaction():
        query = DocumentJob.select().where(DocumentJob.id.in_(job_ids))
        jobs = list(query.order_by(DocumentJob.id))
        _with_parties(jobs)
        return [_prepare_one(ctx, job) for job in jobs]


def outcome_of(
    task: RenderTask, rendered: dict[str, documents.Rendered | BaseException]
) -> Outcome:
    """A job's outcome from its renderers' results (a failed one fails the job)."""
    if task.error is not None:
        return Outcome(task, error=task.error)
    files = dict(task.made)
    warnings: list[str] = []
    for fmt, result in rendered.items():
        if isinstance(result, BaseException):
            return Outcome(task, error=f"{fmt}: {describe(result)}")
        files[fmt] = result.data
        warnings.extend(f"{fmt}: {w}" for w in result.warnings)
    return Outcome(task, files=files, warnings=warnings)


def render_here(task: RenderTask, render: Render) -> Outcome:
    """Render a task in this process."""
    results: dict[str, documents.Rendered | BaseException] = {}
    for fmt, document in task.renders.items():
        try:
            results[fmt] = render(documents.renderer_for(fmt), document)
        except Exception as exc:
            results[fmt] = exc
    return outcome_of(task, results)


def _subject(task: RenderTask) -> Invoice | CreditNote:
    """The job's invoice or credit note for the audit (its id is all it needs)."""
    return Invoice(id=task.owner_id) if task.kind == "invoice" else CreditNote(id=task.owner_id)


def _payload(task: RenderTask, job: DocumentJob) -> dict[str, Any]:
    return {
        "job_id": task.job_id,
        "kind": task.kind,
        f"{task.kind}_id": task.owner_id,
        "number": task.number,
        "client_id": task.client_id,
        "version": task.version,
        "formats": job.formats,
        "attempts": job.attempts,
    }


def _store(task: RenderTask, files: dict[str, bytes]) -> None:
    """Write a job's files and Document rows, all or none: when the disk refuses one,
    the files written before it are removed and its rows rolled back (a savepoint)."""
    owner = {f"{task.kind}_id": task.owner_id}
    written: list[Path] = []
    try:
        with write_transaction():
            for fmt, data in files.items():
                path = Path(task.paths[fmt])
                documents.store(path, fmt, task.version, data, **owner)
                written.append(path)
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _rendered(ctx: ServiceContext, job: DocumentJob, outcome: Outcome) -> None:
    task = outcome.task
    try:
        _store(task, outcome.files)
    except OSError as exc:
        fault = fault_of(exc)
        if fault is None:
            raise
        _failed(ctx, job, Outcome(task, error=fault.message), disk_full=True)
        return
    job.state = "ready"
    job.error = ""
    job.retry_at = None
    job.finished_at = utcnow()
    job.save()
    record_audit(
        ctx.acting_as(job.actor),  # on behalf of who issued or edited
        "document.rendered",
        client_id=task.client_id,
        subject=_subject(task),
        number=task.number,
        version=task.version,
        formats=job.formats,
        warnings=outcome.warnings,
    )
    ctx.emit("document.rendered", {**_payload(task, job), "warnings": outcome.warnings})


def backoff(attempts: int) -> dt.timedelta:
    """The pause before try ``attempts + 1``."""
    return leases.backoff(attempts, *BACKOFF)


def _failed(
    ctx: ServiceContext, job: DocumentJob, outcome: Outcome, *, disk_full: bool = False
) -> None:
    """Record a failed try; ``disk_full``: its files did not fit, tried again until they do."""
    task = outcome.task
    final = job.attempts >= MAX_ATTEMPTS and not disk_full
    pause = leases.backoff(job.attempts, BACKOFF[0], DISK_FULL_LONGEST) if disk_full else None
    job.state = "failed"
    job.error = outcome.error or "failed"
    job.retry_at = None if final else ctx.now_utc() + (pause or backoff(job.attempts))
    job.finished_at = utcnow()
    job.save()
    retry_at = job.retry_at.isoformat() if job.retry_at else None
    record_audit(
        ctx.acting_as(job.actor),  # on behalf of who issued or edited
        "document.failed",
        client_id=task.client_id,
        subject=_subject(task),
        number=task.number,
        version=task.version,
        error=job.error,
        attempts=job.attempts,
        retry_at=retry_at,
    )
    log.warning("document job %s (%s %s) failed: %s", job.id, task.kind, task.number, job.error)
    ctx.emit("document.failed", {**_payload(task, job), "error": job.error, "retry_at": retry_at})


def finish(ctx: ServiceContext, outcomes: list[Outcome], claimer: str) -> int:
    """Store the outcomes in one transaction: for each job still ``claimer``'s, its files,
    Document rows and state together (a job another claimer took over is left to it).
    Returns how many were recorded."""
    recorded = 0
    with write_transaction():
        jobs = {
            job.id: job
            for job in DocumentJob.select().where(
                DocumentJob.id.in_([o.task.job_id for o in outcomes])
            )
        }
        for outcome in outcomes:
            job = jobs.get(outcome.task.job_id)
            if job is None or job.state != "rendering" or job.claimed_by != claimer:
                log.warning("document job %s is no longer ours; not recorded", outcome.task.job_id)
                continue
            (_failed if outcome.error is not None else _rendered)(ctx, job, outcome)
            recorded += 1
    return recorded


@dataclass
class Drained:
    """What :func:`render_pending` did."""

    rendered: int = 0
    failed: int = 0


def render_pending(ctx: ServiceContext, limit: int | None = None) -> Drained:
    """Render the due jobs in this process, one try each (outside the daemon: tests,
    one-shot commands); ``limit`` bounds how many. The events go onto ``ctx.events``."""
    claimer = claimer_id()
    release_abandoned(claimer)
    template_dirs = documents.template_dirs_of(ctx)

    def render(name: str, document: dict[str, Any]) -> documents.Rendered:
        return documents.render_with(ctx.plugins, template_dirs, name, document)

    drained = Drained()
    tried: set[int] = set()
    while limit is None or len(tried) < limit:
        size = BATCH if limit is None else min(BATCH, limit - len(tried))
        ids = [i for i in claim(ctx, size, claimer) if i not in tried]
        if not ids:
            break
        tried.update(ids)
        outcomes = [render_here(task, render) for task in prepare(ctx, ids)]
        finish(ctx, outcomes, claimer)
        failed = sum(o.error is not None for o in outcomes)
        drained.failed += failed
        drained.rendered += len(outcomes) - failed
    return drained


# -- reading: wait for a version ----------------------------------------------------------


class DocumentPending(Conflict):
    """The document is still queued or rendering after the wait asked for."""

    reason = "document_pending"


class DocumentFailed(Conflict):
    """The newest version of the document could not be rendered (its job failed)."""

    reason = "document_failed"


def _newest_with(owner: Invoice | CreditNote, fmt: str) -> DocumentJob | None:
    job_column, _ = _owner_column(owner)
    jobs = DocumentJob.select().where(job_column == owner.id).order_by(DocumentJob.version.desc())
    return next((job for job in jobs if fmt in job.formats), None)


def fetch(owner: Invoice | CreditNote, fmt: str, wait: float, *, poll: float = 0.1) -> bytes | None:
    """The current document of a format, waiting up to ``wait`` seconds while its newest
    version is queued or rendering; None when no version has that format.

    Raises :class:`DocumentPending` when the wait ends first, :class:`DocumentFailed`
    when the newest version failed (with the error, and when it is tried again).
    """
    label = f"{'invoice' if isinstance(owner, Invoice) else 'credit note'} {owner.number}"
    deadline = time.monotonic() + wait
    while True:
        job = _newest_with(owner, fmt)
        if job is None or job.state == "ready":
            return documents.read_document(owner, fmt)
        if job.state == "failed":
            retry = (
                f"tried again at {job.retry_at:%Y-%m-%d %H:%M:%S} UTC"
                if job.retry_at
                else (f"not tried again after {job.attempts} attempts")
            )
            raise DocumentFailed(
                f"the {fmt} document of {label} could not be rendered: {job.error} ({retry})",
                format=fmt, state="failed", error=job.error, attempts=job.attempts,
            )  # fmt: skip
        if time.monotonic() >= deadline:
            raise DocumentPending(
                f"the {fmt} document of {label} is still {job.state} after waiting "
                f"{wait:g} s; try again later",
                format=fmt, state="pending", waited=wait,
            )  # fmt: skip
        time.sleep(poll)
