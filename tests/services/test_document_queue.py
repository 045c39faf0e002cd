"""Documents are rendered off the billing transaction, through a durable queue
(R-INV-11, R-DEL-1): issuing only queues a job; the job renders each version exactly
once, after a crash too; a failing renderer never fails the billing."""

from __future__ import annotations

import base64
import datetime as dt
import signal
import socket
import sqlite3
import time
from collections import Counter
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from billingd.clock import FixedClock
from billingd.db.connection import open_database
from billingd.db.models import AuditEvent, Document, DocumentJob, Invoice
from billingd.hookspecs import hookimpl
from billingd.plugins import PluginHost
from billingd.services import document_queue, invoice_actions, invoicing, parties
from billingd.services.context import ServiceContext
from billingd.views import invoice_view
from tests.conftest import RunningDaemon


class Renderer:
    """A renderer plugin named ``pdf`` for the tests: fails, or leaves a warning."""

    name = "pdf"
    media_type = "application/pdf"
    file_extension = "pdf"

    def __init__(self, fail: bool = False, warning: str | None = None) -> None:
        self.fail = fail
        self.warning = warning

    def render(self, document: dict[str, Any], context: Any) -> bytes:
        if self.fail:
            raise RuntimeError("the template is broken")
        if self.warning is not None:
            getattr(context, "warnings", []).append(self.warning)
        return f"%PDF- {document['number']} {document['bill_to']['address']}".encode()

    @hookimpl
    def register_renderers(self, register: Any) -> None:
        register(self)


def with_renderer(ctx: ServiceContext, renderer: Renderer) -> ServiceContext:
    host = PluginHost()
    host.register(renderer, "test-renderer")
    ctx.plugins = host
    return ctx


@pytest.fixture
def jane(ctx: ServiceContext, acme):  # type: ignore[no-untyped-def]
    return parties.add_client(ctx, name="Jane", enterprise_id=acme.id, send_stats=True)


def issue(ctx: ServiceContext, client: Any, count: int = 1) -> list[Invoice]:
    return invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(2026, 1, 5), amount=D("119"), count=count
    )


def files_in(ctx: ServiceContext) -> set[str]:
    return {str(p) for p in (ctx.data_dir / "documents").rglob("*") if p.is_file()}


def test_issue_queues_and_the_queue_renders_each_format_once(
    ctx: ServiceContext, jane: Any
) -> None:
    invoices = issue(ctx, jane, count=3)
    assert [invoice_view(i)["document"] for i in invoices] == ["pending"] * 3
    assert files_in(ctx) == set()  # nothing rendered inside the issuing transaction
    assert [name for name, _ in ctx.events].count("document.queued") == 3

    assert document_queue.render_pending(ctx) == document_queue.Drained(rendered=3)
    assert [invoice_view(i)["document"] for i in invoices] == ["ready"] * 3
    current = Document.select().where(Document.current)
    assert Counter((d.invoice_id, d.format) for d in current) == Counter(
        {(i.id, f): 1 for i in invoices for f in ("pdf", "stats-csv")}
    )
    assert files_in(ctx) == {d.path for d in Document.select()}
    assert (
        Path(document_queue.documents.current_document(invoices[0], "pdf").path).read_bytes()[:5]
        == b"%PDF-"
    )
    assert document_queue.render_pending(ctx) == document_queue.Drained()  # exactly once
    rendered = [p for name, p in ctx.events if name == "document.rendered"]
    assert sorted(p["invoice_id"] for p in rendered) == sorted(i.id for i in invoices)
    assert rendered[0]["formats"] == ["pdf", "stats-csv"]


def test_failing_renderer_marks_the_job_failed_and_billing_succeeds(
    ctx: ServiceContext, jane: Any
) -> None:
    ctx = with_renderer(ctx, Renderer(fail=True))
    ctx.clock = FixedClock(dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC))
    (invoice,) = issue(ctx, jane)  # billing does not wait for or depend on the render
    assert Invoice.get_by_id(invoice.id).status == "open"

    assert document_queue.render_pending(ctx) == document_queue.Drained(failed=1)
    assert invoice_view(invoice)["document"] == "failed"
    job = DocumentJob.get(DocumentJob.invoice == invoice)
    assert "the template is broken" in job.error and job.attempts == 1
    assert job.retry_at == dt.datetime(2026, 1, 5, 9, 0, 30)  # backoff on the daemon's clock
    (event,) = [p for name, p in ctx.events if name == "document.failed"]
    assert "the template is broken" in event["error"] and event["retry_at"]
    audit = AuditEvent.get(AuditEvent.event == "document.failed")
    assert audit.subject_id == invoice.id and audit.actor == "tester"
    with pytest.raises(document_queue.DocumentFailed, match="the template is broken"):
        document_queue.fetch(invoice, "pdf", wait=0)

    assert document_queue.render_pending(ctx) == document_queue.Drained()  # not yet due
    for attempt in range(2, document_queue.MAX_ATTEMPTS + 1):
        ctx.clock = FixedClock(ctx.clock.now() + dt.timedelta(hours=2))
        assert document_queue.render_pending(ctx) == document_queue.Drained(failed=1)
        assert DocumentJob.get_by_id(job.id).attempts == attempt
    assert DocumentJob.get_by_id(job.id).retry_at is None  # bounded: no more tries
    ctx.clock = FixedClock(ctx.clock.now() + dt.timedelta(days=1))
    assert document_queue.render_pending(ctx) == document_queue.Drained()
    assert Document.select().count() == 0 and files_in(ctx) == set()


def test_renderer_warnings_go_onto_the_event_and_into_the_audit(
    ctx: ServiceContext, jane: Any
) -> None:
    ctx = with_renderer(ctx, Renderer(warning="a glyph was replaced"))
    (invoice,) = issue(ctx, jane)
    document_queue.render_pending(ctx)
    (event,) = [p for name, p in ctx.events if name == "document.rendered"]
    assert event["warnings"] == ["pdf: a glyph was replaced"]
    audit = AuditEvent.get(AuditEvent.event == "document.rendered")
    assert audit.details["warnings"] == ["pdf: a glyph was replaced"]
    assert audit.subject_id == invoice.id


def test_address_edit_renders_a_new_version_and_keeps_the_previous_file(
    ctx: ServiceContext, jane: Any
) -> None:
    ctx = with_renderer(ctx, Renderer())
    (invoice,) = issue(ctx, jane)
    document_queue.render_pending(ctx)
    invoice_actions.edit_address(ctx, invoice.id, "Fixed Street 3")
    assert invoice_view(invoice)["document"] == "pending"
    document_queue.render_pending(ctx)
    pdfs = list(Document.select().where(Document.format == "pdf").order_by(Document.version))
    assert [(d.version, d.current) for d in pdfs] == [(1, False), (2, True)]
    assert pdfs[1].path.endswith(".v2.pdf")
    assert b"Fixed Street 3" not in Path(pdfs[0].path).read_bytes()
    assert b"Fixed Street 3" in Path(pdfs[1].path).read_bytes()
    # the statistics do not show the address: their version 1 stays current
    stats = Document.get(Document.format == "stats-csv")
    assert (stats.version, stats.current) == (1, True)
    assert document_queue.fetch(invoice, "pdf", wait=0) == Path(pdfs[1].path).read_bytes()


def test_a_render_cut_short_by_a_crash_is_redone_into_the_same_files(
    ctx: ServiceContext, jane: Any
) -> None:
    (invoice,) = issue(ctx, jane)
    # a daemon (a process gone since) claimed the job and wrote a file, then died
    # before its commit
    gone = f"{socket.gethostname()}:999999999:dead"
    (job_id,) = document_queue.claim(ctx, 1, gone)
    (task,) = document_queue.prepare(ctx, [job_id])
    Path(task.paths["pdf"]).parent.mkdir(parents=True)
    Path(task.paths["pdf"]).write_bytes(b"half a PDF")
    Path(task.paths["pdf"] + ".partial").write_bytes(b"half")
    assert invoice_view(invoice)["document"] == "pending"

    assert document_queue.render_pending(ctx) == document_queue.Drained(rendered=1)
    rows = list(Document.select())
    assert {(d.format, d.path) for d in rows} == set(task.paths.items())
    assert files_in(ctx) == set(task.paths.values())  # no stray or partial file
    assert Path(task.paths["pdf"]).read_bytes()[:5] == b"%PDF-"
    # a late commit by the dead claimer would be refused: the job is no longer its
    late = document_queue.Outcome(task, files={"pdf": b"late"})
    assert document_queue.finish(ctx, [late], gone) == 0
    assert Document.select().count() == 2


# -- the daemon's worker processes ---------------------------------------------------------


def _setup(daemon: RunningDaemon, send_stats: bool = True) -> int:
    enterprise = daemon.call(
        "enterprise.add", name="Acme", currency="EUR", tax_rate="19", timezone="Europe/Berlin"
    )
    client = daemon.call(
        "client.add", name="Jane", enterprise=enterprise["id"], send_stats=send_stats
    )
    return int(client["id"])


def test_daemon_renders_after_commit_and_invoice_pdf_waits(daemon: RunningDaemon) -> None:
    client = _setup(daemon)
    invoices = daemon.call(
        "invoice.amount", client=client, date="2026-01-05", amount="119", count=40
    )
    assert {i["document"] for i in invoices} == {"pending"}  # as committed
    last = invoices[-1]
    document = daemon.call("invoice.pdf", invoice=last["number"])  # waits for it
    assert base64.b64decode(document["content_base64"])[:5] == b"%PDF-"
    stats = daemon.call("invoice.pdf", invoice=last["id"], format="stats-csv")
    assert stats["media_type"] == "text/csv"
    deadline = time.monotonic() + 60
    while {i["document"] for i in daemon.call("invoice.list")} != {"ready"}:
        assert time.monotonic() < deadline, "documents not rendered"
        time.sleep(0.1)
    assert daemon.call("invoice.show", invoice=last["id"])["document"] == "ready"
    note = daemon.call("credit_note.issue", invoice=last["id"], amount="19")
    reply = daemon.call("credit_note.pdf", credit_note=note["number"])
    assert base64.b64decode(reply["content_base64"])[:5] == b"%PDF-"
    assert daemon.call("credit_note.list")[0]["document"] == "ready"


def _count(path: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as con:
        return int(con.execute(sql).fetchone()[0])


@pytest.mark.slow
def test_sigkill_while_rendering_then_restart_renders_each_version_once(
    short_dir: Path,
) -> None:
    path = short_dir / "billing.db"
    url = f"sqlite:///{path}"
    daemon = RunningDaemon(short_dir, url)
    try:
        client = _setup(daemon)
        for _ in range(3):
            daemon.call("invoice.amount", client=client, date="2026-01-05", amount="119", count=400)
        ready = "SELECT COUNT(*) FROM document_job WHERE state = 'ready'"
        deadline = time.monotonic() + 120
        while _count(path, ready) < 150:
            assert time.monotonic() < deadline, "the worker rendered nothing"
            time.sleep(0.01)
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(timeout=10)
        daemon.stop()
        killed_at = _count(path, ready)
        assert killed_at < 1200, "the kill came too late to cut the queue short"

        daemon = RunningDaemon(short_dir, url)
        deadline = time.monotonic() + 180
        while _count(path, ready) < 1200:
            assert time.monotonic() < deadline, daemon.log_text()[-2000:]
            time.sleep(0.2)
    finally:
        daemon.stop()
    database = open_database(url)
    try:
        invoices = {i.id for i in Invoice.select(Invoice.id)}
        assert len(invoices) == 1200
        rows = list(Document.select())
        per_format = Counter((d.invoice_id, d.format) for d in rows if d.current)
        assert per_format == Counter({(i, f): 1 for i in invoices for f in ("pdf", "stats-csv")})
        assert len(rows) == len(per_format)  # no second row for a version
        on_disk = {str(p) for p in (short_dir / "data" / "documents").rglob("*") if p.is_file()}
        assert on_disk == {d.path for d in rows}  # no stray (or partial) file
        assert all(
            Path(d.path).read_bytes()[:5] == b"%PDF-" for d in rows[::97] if d.format == "pdf"
        )
    finally:
        database.close()
    print(f"\nkilled with {killed_at} of 1200 invoices' documents rendered; all rendered once")
