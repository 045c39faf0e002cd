"""Outbox throughput: invoice emails with a PDF attachment, delivered to a local SMTP
server by the daemon's outbox worker (R-DEL-3).

Prepares N issued invoices on a scratch SQLite database, each with a stored PDF of
``--pdf-kb`` KB (rendering is the document queue's benchmark, not this one), queues
one email per invoice as ``invoice send`` does, then runs the outbox worker until
every message is ``sent`` to an aiosmtpd server in another process, which counts
what it receives. Prints messages per second and the median attempt.

    python bench/outbox.py                 # 10,000 mails with a 30 KB PDF
    python bench/outbox.py -n 2000 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from billingd.config import SmtpConfig  # noqa: E402
from billingd.db.connection import open_database, write_transaction  # noqa: E402
from billingd.db.migrations import migrate  # noqa: E402
from billingd.db.models import Document, DocumentJob, Invoice, OutboxMessage  # noqa: E402
from billingd.outbox_worker import OutboxWorker  # noqa: E402
from billingd.plugins import load_plugins  # noqa: E402
from billingd.rendering import default_template_dirs  # noqa: E402
from billingd.services import invoice_actions, invoicing, parties  # noqa: E402
from billingd.services.context import ServiceContext  # noqa: E402

BATCH = 1000


def sink(port: int, received: multiprocessing.Value, ready: multiprocessing.Event) -> None:  # type: ignore[valid-type]
    """An SMTP server that counts the messages it accepts."""

    class Count:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            with received.get_lock():
                received.value += 1
            return "250 OK"

    serve_smtp(Count(), port, ready)


def serve_smtp(handler: object, port: int, ready: multiprocessing.Event) -> None:  # type: ignore[valid-type]
    """Serve ``handler`` (aiosmtpd's) on ``port`` until the process is ended."""
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def prepare(ctx: ServiceContext, count: int, pdf: Path) -> None:
    enterprise = parties.add_enterprise(
        ctx, name="Bench GmbH", currency="EUR", timezone="Europe/Berlin", tax_rate=Decimal("19"),
        email="billing@bench.test", iban="DE89370400440532013000",
    )  # fmt: skip
    client = parties.add_client(
        ctx, name="Jane", enterprise_id=enterprise.id, email="jane@client.test", send_email=True
    )
    for _ in range(0, count, BATCH):
        invoicing.invoice_for_amount(
            ctx, issue_date=dt.date(2026, 1, 5), amount=Decimal("119.00"),
            client_id=client.id, count=min(BATCH, count),
        )  # fmt: skip
    digest = "0" * 64
    with write_transaction():  # the documents, as the document queue would have stored them
        DocumentJob.update(state="ready").execute()
        rows = [
            {"invoice": invoice_id, "format": "pdf", "path": str(pdf), "sha256": digest}
            for (invoice_id,) in Invoice.select(Invoice.id).tuples()
        ]
        for start in range(0, len(rows), 500):
            Document.insert_many(rows[start : start + 500]).execute()
    for (invoice_id,) in Invoice.select(Invoice.id).tuples():
        invoice_actions.send_invoice(ctx, invoice_id)


async def deliver(ctx: ServiceContext, smtp: SmtpConfig, count: int) -> tuple[float, float]:
    """Wall time and this process's CPU time until ``count`` messages are sent."""
    stop = asyncio.Event()
    worker = OutboxWorker(ctx, lambda: smtp, default_template_dirs(), lambda *a: None, stop)
    task = asyncio.create_task(worker.serve())
    start, cpu = time.perf_counter(), time.process_time()
    while worker.sent < count:
        await asyncio.sleep(0.05)
        if task.done():
            task.result()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    stop.set()
    await task
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="emails (default 10,000)")
    parser.add_argument("--pdf-kb", type=int, default=30, help="PDF size in KB (default 30)")
    parser.add_argument("--rate", type=int, default=0, help="smtp.rate (default 0: unlimited)")
    parser.add_argument("--batch", type=int, default=100, help="smtp.batch (default 100)")
    parser.add_argument("--connections", type=int, default=4, help="smtp.connections (default 4)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bd-bench-", dir="/tmp"))
    pdf = folder / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + os.urandom(args.pdf_kb * 1024))
    database = open_database(f"sqlite:///{folder / 'bench.db'}")
    migrate(database)
    ctx = ServiceContext(actor="bench", plugins=load_plugins({}, None), data_dir=folder)
    started = time.perf_counter()
    prepare(ctx, args.n, pdf)
    prepared = time.perf_counter() - started

    port = 20000 + os.getpid() % 20000
    received = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=sink, args=(port, received, ready), daemon=True)
    server.start()
    ready.wait(30)
    smtp = SmtpConfig(
        host="127.0.0.1",
        port=port,
        sender="billing@bench.test",
        rate=args.rate,
        batch=args.batch,
        connections=args.connections,
    )
    elapsed, cpu = asyncio.run(deliver(ctx, smtp, args.n))
    server.terminate()
    server.join()
    sink_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    sink_cpu_s = sink_cpu.ru_utime + sink_cpu.ru_stime
    states = {
        state: OutboxMessage.select().where(OutboxMessage.state == state).count()
        for state in ("queued", "sending", "sent", "failed")
    }
    print(
        json.dumps(
            {
                "emails": args.n,
                "pdf_kb": args.pdf_kb,
                "prepare_s": round(prepared, 1),
                "deliver_s": round(elapsed, 2),
                "messages_per_s": round(args.n / elapsed, 1),
                "outbox_cpu_ms_per_message": round(cpu / args.n * 1000, 2),
                "smtp_server_cpu_ms_per_message": round(sink_cpu_s / args.n * 1000, 2),
                "received": received.value,
                "states": states,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"Python {platform.python_version()}",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
