"""Billing-run throughput: how many invoices per second a run issues (R-RUN-2, R-RUN-11).

Seeds N clients, each with one monthly advance contract starting on the run's date
(so each client is due exactly one invoice), then bills them all with
``billingd.services.runs.run_all`` — the same per-client steps the daemon's
scheduler executes, one transaction per invoice with its number, ledger entry,
audit event and PDF document.

The time spent inside the PDF renderer is measured separately, so the report shows
the rate with PDF rendering (what the daemon does) and the rate of the rest of the
work (numbering, lines, ledger, audit, file write) without it. Nothing is skipped:
every invoice still gets its PDF.

    python bench/run_throughput.py                     # 2,000 clients on SQLite
    python bench/run_throughput.py -n 500 --pg postgresql://postgres@127.0.0.1:5432/postgres

With ``--pg URL`` a scratch database is created next to the one the URL names,
benchmarked after SQLite and dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from billingd.db.connection import open_database, write_transaction
from billingd.db.migrations import migrate
from billingd.db.models import Document, Invoice
from billingd.plugins import load_plugins
from billingd.services import contracts, parties, runs
from billingd.services.context import ServiceContext
from fixtures import scratch_database

AS_OF = dt.date(2026, 3, 1)


class TimedRenderer:
    """Wraps the PDF renderer to add up the time spent inside it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def render(self, document: Any, context: Any) -> bytes:
        started = time.perf_counter()
        try:
            return self.inner.render(document, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def seed(ctx: ServiceContext, clients: int) -> None:
    """One enterprise, ``clients`` clients with one contract each, in one transaction."""
    with write_transaction():
        enterprise = parties.add_enterprise(
            ctx, name="Bench GmbH", currency="EUR", timezone="Europe/Berlin", tax_rate=Decimal(19)
        )
        for n in range(clients):
            client = parties.add_client(ctx, name=f"Client {n:05d}", enterprise_id=enterprise.id)
            contracts.add_contract(
                ctx,
                client_id=client.id,
                description="Hosted PBX",
                unit_price=Decimal("49.90"),
                cycle="month",
                start_date=AS_OF,
                timing="advance",
            )
    ctx.events.clear()


def bench(url: str, clients: int, data_dir: Path) -> dict[str, Any]:
    database = open_database(url)
    migrate(database)
    plugins = load_plugins({}, None)
    timed = TimedRenderer(plugins.renderer("pdf"))
    plugins._registries["register_renderers"]["pdf"] = timed  # measure, not replace
    ctx = ServiceContext(actor="bench", plugins=plugins, data_dir=data_dir)
    started = time.perf_counter()
    seed(ctx, clients)
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    run = runs.run_all(ctx, as_of=AS_OF)
    elapsed = time.perf_counter() - started
    invoices = Invoice.select().count()
    documents = Document.select().where(Document.format == "pdf").count()
    database.close()
    if run.invoices != clients or invoices != clients or documents != clients or run.failures:
        raise SystemExit(
            f"unexpected outcome: run {run.invoices} invoices, {run.failures} failures; "
            f"{invoices} invoices and {documents} PDFs stored for {clients} clients"
        )
    rest = elapsed - timed.seconds
    return {
        "backend": "postgresql" if url.startswith("postgres") else "sqlite",
        "clients": clients,
        "invoices": invoices,
        "seed_seconds": round(seeded, 2),
        "run_seconds": round(elapsed, 2),
        "invoices_per_second_with_pdf": round(invoices / elapsed, 1),
        "pdf_seconds": round(timed.seconds, 2),
        "pdf_share": round(timed.seconds / elapsed, 3),
        "invoices_per_second_without_pdf_time": round(invoices / rest, 1) if rest > 0 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--clients", type=int, default=2000, help="default 2000")
    parser.add_argument("--pg", metavar="URL", help="also benchmark PostgreSQL (server URL)")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    targets = ([] if args.no_sqlite else [None]) + ([args.pg] if args.pg else [])
    results = []
    for postgres in targets:
        folder = Path(tempfile.mkdtemp(prefix="billingd-bench-"))
        try:
            with scratch_database(folder, postgres) as url:
                results.append(bench(url, args.clients, folder / "data"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(
            f"{r['backend']:<10} {r['invoices']} invoices in {r['run_seconds']} s: "
            f"{r['invoices_per_second_with_pdf']} invoices/s with PDF rendering "
            f"({r['pdf_seconds']} s, {r['pdf_share']:.0%} of the run, spent rendering PDFs; "
            f"the rest alone: {r['invoices_per_second_without_pdf_time']} invoices/s); "
            f"seeding took {r['seed_seconds']} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
