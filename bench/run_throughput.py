"""Billing-run throughput: how many invoices per second a run issues (R-RUN-2, R-RUN-11).

Seeds N clients, each with one monthly advance contract starting on the run's date
(so each client is due exactly one invoice), then bills them all with
``billingd.services.runs.run_all``: the batches the daemon's scheduler executes
(``runs.BATCH_SIZE`` owners per transaction, a savepoint per owner), each invoice
with its number, lines, cycle claim, ledger entry, audit event and document job.
Documents are rendered by the document queue after the commit (R-INV-11), not in
the run: ``bench/document_queue.py`` measures that. The daemon's whole pipeline
(imports, usage, the run over the socket) is ``bench/month.py run``.

Prints the median of ``--repeat`` runs: wall time, and the process's CPU time (the
machine may be shared: the CPU time is what the run itself cost).

    python bench/run_throughput.py                     # 2,000 clients on SQLite
    python bench/run_throughput.py -n 10000 --pg postgresql://postgres@127.0.0.1:5432/postgres

With ``--pg URL`` a scratch database is created next to the one the URL names,
benchmarked after SQLite and dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from billingd.db.connection import open_database, write_transaction
from billingd.db.migrations import migrate
from billingd.db.models import DocumentJob, Invoice
from billingd.plugins import load_plugins
from billingd.services import contracts, parties, runs
from billingd.services.context import ServiceContext
from fixtures import scratch_database

AS_OF = dt.date(2026, 3, 1)


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
    ctx = ServiceContext(actor="bench", plugins=load_plugins({}, None), data_dir=data_dir)
    started = time.perf_counter()
    seed(ctx, clients)
    seeded = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    run = runs.run_all(ctx, as_of=AS_OF)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    invoices = Invoice.select().count()
    jobs = DocumentJob.select().count()
    database.close()
    if run.invoices != clients or invoices != clients or jobs != clients or run.failures:
        raise SystemExit(
            f"unexpected outcome: run {run.invoices} invoices, {run.failures} failures; "
            f"{invoices} invoices and {jobs} document jobs stored for {clients} clients"
        )
    return {"seed_seconds": seeded, "run_seconds": elapsed, "cpu_seconds": cpu}


def measure(url_of: Any, clients: int, repeat: int) -> dict[str, Any]:
    """The median of ``repeat`` runs, each on a fresh scratch database."""
    found = []
    for _ in range(repeat):
        folder = Path(tempfile.mkdtemp(prefix="billingd-bench-"))
        try:
            with url_of(folder) as url:
                found.append(bench(url, clients, folder / "data"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    run = statistics.median(r["run_seconds"] for r in found)
    cpu = statistics.median(r["cpu_seconds"] for r in found)
    return {
        "clients": clients,
        "invoices": clients,
        "repeat": repeat,
        "batch_size": runs.BATCH_SIZE,
        "seed_seconds": round(statistics.median(r["seed_seconds"] for r in found), 2),
        "run_seconds": round(run, 2),
        "cpu_seconds": round(cpu, 2),
        "invoices_per_second": round(clients / run, 1),
        "invoices_per_cpu_second": round(clients / cpu, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--clients", type=int, default=2000, help="default 2000")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median (default 3)")
    parser.add_argument("--pg", metavar="URL", help="also benchmark PostgreSQL (server URL)")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    targets = ([] if args.no_sqlite else [None]) + ([args.pg] if args.pg else [])
    results = []
    for postgres in targets:

        def url_of(folder: Path, postgres: str | None = postgres) -> Any:
            return scratch_database(folder, postgres)

        result = measure(url_of, args.clients, args.repeat)
        results.append({"backend": "postgresql" if postgres else "sqlite", **result})
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(
            f"{r['backend']:<10} {r['invoices']} invoices in {r['run_seconds']} s "
            f"({r['invoices_per_second']}/s; CPU {r['cpu_seconds']} s: "
            f"{r['invoices_per_cpu_second']}/s), median of {r['repeat']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
