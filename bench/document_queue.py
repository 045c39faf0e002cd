"""Document-queue throughput: invoices issued through a real daemon, rendered after the
commits by its worker processes, end to end.

Starts ``billingd serve`` on a scratch SQLite database (``document_workers`` processes,
default one per core), issues N one-page invoices in batches of 1,000
(``invoice.amount``, one transaction each) and times until every document job is
``ready``: issuing (the billing transactions, which only queue jobs) and rendering
(the queue draining, files and Document rows committed) separately.

    python bench/document_queue.py               # 10,000 invoices, one worker per core
    python bench/document_queue.py -n 2000 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import RunningDaemon  # noqa: E402

BATCH = 1000


def ready_count(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as con:
        row = con.execute("SELECT COUNT(*) FROM document_job WHERE state = 'ready'").fetchone()
        return int(row[0])


def measure(count: int, workers: int | None) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="bd-bench-", dir="/tmp"))
    database = folder / "billing.db"
    extra = "invoicing: manual\nlog_level: WARNING\n"
    if workers is not None:
        extra += f"document_workers: {workers}\n"
    daemon = RunningDaemon(folder, f"sqlite:///{database}", extra)
    try:
        enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
        client = daemon.call("client.add", name="Jane", enterprise=enterprise["id"])
        began = time.perf_counter()
        for issued in range(0, count, BATCH):
            daemon.call(
                "invoice.amount",
                client=client["id"],
                date="2026-01-05",
                amount="119",
                count=min(BATCH, count - issued),
            )
        issued_in = time.perf_counter() - began
        while ready_count(database) < count:
            time.sleep(0.05)
        total = time.perf_counter() - began
    finally:
        daemon.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "invoices": count,
        "workers": workers or os.cpu_count(),
        "issuing_s": round(issued_in, 2),
        "end_to_end_s": round(total, 2),
        "documents_per_s": round(count / total, 1),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="invoices (default 10,000)")
    parser.add_argument("--workers", type=int, help="document_workers (default: one per core)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = measure(args.n, args.workers)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"machine: {report['cpus']} CPUs, Python {report['python']}")
    print(
        f"{report['invoices']} invoices, {report['workers']} worker processes: issued in "
        f"{report['issuing_s']} s, all documents ready after {report['end_to_end_s']} s "
        f"= {report['documents_per_s']} documents/s end to end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
