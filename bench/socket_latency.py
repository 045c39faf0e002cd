"""Control-socket latency: simple reads from concurrent clients against a real daemon.

Starts ``billingd serve`` on SQLite in a temporary directory (or on a scratch
PostgreSQL database with ``--pg``), seeds it (an
enterprise, clients, invoices), then runs N client processes at once, each with
its own connection, each sending R requests that cycle through ``status``,
``client.list(limit=20)`` and ``invoice.show``. Every request is timed on the
client from send to reply. Prints the count answered, the throughput, and
p50/p95/p99/max latency per method.

    python bench/socket_latency.py                  # 8 clients x 1,000 requests
    python bench/socket_latency.py -c 4 -r 5000 --json
    python bench/socket_latency.py --pg postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from billingd.control.client import ControlClient, RemoteError
from fixtures import HOT_READS, scratch_database, seed_hot_reads
from harness import machine, percentile, start_daemon

WARM_UP = 50


def worker(
    socket_path: str,
    requests: int,
    start: Any,
    results: Any,
    methods: tuple[tuple[str, dict[str, Any]], ...] = HOT_READS,
) -> None:
    """One client process: warm up, wait for the others, then time every request."""
    timings: dict[str, list[int]] = {name: [] for name, _ in methods}
    errors = 0
    with ControlClient(socket_path, timeout=30) as client:
        for number in range(WARM_UP):
            name, params = methods[number % len(methods)]
            client.call(name, **params)
        start.wait()
        for number in range(requests):
            name, params = methods[number % len(methods)]
            began = time.perf_counter_ns()
            try:
                client.call(name, **params)
            except RemoteError:
                errors += 1
                continue
            timings[name].append(time.perf_counter_ns() - began)
    results.put((timings, errors))


def measure(
    folder: Path,
    database: str,
    clients: int,
    requests: int,
    seeding: tuple[int, int],
    methods: tuple[tuple[str, dict[str, Any]], ...],
) -> tuple[list[Any], float]:
    """Start the daemon on ``database``, seed it, run the client processes; their
    timings and the seconds from the start signal to the last answer."""
    daemon = start_daemon(folder, database)
    try:
        socket_path = folder / "billingd.sock"
        with ControlClient(socket_path) as client:
            seed_hot_reads(client.call, *seeding)
        context = multiprocessing.get_context("spawn")
        start = context.Event()
        results = context.Queue()
        workers = [
            context.Process(
                target=worker, args=(str(socket_path), requests, start, results, methods)
            )
            for _ in range(clients)
        ]
        for process in workers:
            process.start()
        time.sleep(1.0)  # let every worker connect and warm up
        began = time.perf_counter()
        start.set()
        collected = [results.get(timeout=600) for _ in workers]
        elapsed = time.perf_counter() - began
        for process in workers:
            process.join()
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    return collected, elapsed


def run(
    clients: int,
    requests: int,
    seeding: tuple[int, int],
    methods: tuple[tuple[str, dict[str, Any]], ...] = HOT_READS,
    postgres: str | None = None,
) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bd-bench-", dir="/tmp"))
    try:
        with scratch_database(folder, postgres) as database:
            collected, elapsed = measure(folder, database, clients, requests, seeding, methods)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    per_method: dict[str, list[int]] = {name: [] for name, _ in methods}
    errors = 0
    for timings, failed in collected:
        errors += failed
        for name, values in timings.items():
            per_method[name].extend(values)
    everything = sorted(v for values in per_method.values() for v in values)
    report: dict[str, Any] = {
        "database": "postgresql" if postgres else "sqlite",
        "clients": clients,
        "requests_per_client": requests,
        "answered": len(everything),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "throughput_per_s": round(len(everything) / elapsed),
        "methods": {},
        "machine": machine(),
    }
    for name, values in [*per_method.items(), ("all", everything)]:
        values.sort()
        report["methods"][name] = {
            "count": len(values),
            "p50_ms": round(percentile(values, 0.50), 3),
            "p95_ms": round(percentile(values, 0.95), 3),
            "p99_ms": round(percentile(values, 0.99), 3),
            "max_ms": round(values[-1] / 1e6, 3) if values else None,
        }
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("-r", "--requests", type=int, default=1000, help="requests per client")
    parser.add_argument("--seed-clients", type=int, default=200)
    parser.add_argument("--seed-invoices", type=int, default=20)
    parser.add_argument(
        "--only", choices=[name for name, _ in HOT_READS], help="send just this one method"
    )
    parser.add_argument(
        "--pg", metavar="URL", help="run on a scratch PostgreSQL database on this server"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    methods = tuple(m for m in HOT_READS if args.only in (None, m[0]))
    seeding = (args.seed_clients, args.seed_invoices)
    report = run(args.clients, args.requests, seeding, methods, args.pg)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    m = report["machine"]
    print(f"machine: {m['cpus']} CPUs, {m['cpu']}, Python {m['python']}, {m['system']}")
    print(
        f"{report['database']}: {report['clients']} clients"
        f" x {report['requests_per_client']} requests: "
        f"{report['answered']} answered, {report['errors']} errors, "
        f"{report['seconds']} s, {report['throughput_per_s']} requests/s"
    )
    print(f"{'method':<14} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, row in report["methods"].items():
        print(
            f"{name:<14} {row['count']:>6} {row['p50_ms']:>8.3f} {row['p95_ms']:>8.3f} "
            f"{row['p99_ms']:>8.3f} {row['max_ms']:>8.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
