"""Operators writing under load (issue 14): 8 sessions over the socket while a run, a
usage import and the outbox drain proceed.

A daemon on a fresh SQLite file (or ``--pg URL``) with ``clock: test``, ``-n`` clients
(300) with a monthly contract each, invoiced by email to a local SMTP server. January
is billed first; then, at the 1st of February, at once: a run billing February,
``billingctl usage import`` of ``-k`` January records (100,000), the outbox sending
every invoice email, and ``--sessions`` (8) operator sessions, each its own
connection, recording payments, issuing credit notes and adding charges as fast as
they are answered until the run and the import are done and ``--drain`` (20) seconds
more. Prints each write's
latency (p50, p99, max), every error (there must be none; a credit note a balance
no longer allows is a refusal of the books' rules, counted apart), "database is
locked" in replies or the daemon's log, and how long the run and the import took.

    python bench/load.py
    python bench/load.py --pg postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from billingd.control.client import ControlClient, RemoteError  # noqa: E402
from chaos import sink  # noqa: E402
from fixtures import scratch_database  # noqa: E402
from generate import GROUPS  # noqa: E402
from harness import Daemon, machine, machine_lines, percentile  # noqa: E402

REFUSALS = {1002, 1004}  # rule_violation, conflict: the books said no, nothing broke


def usage_file(path: Path, clients: int, rows: int) -> None:
    """``rows`` January records over the clients, in time order."""
    rng = random.Random(14)
    step = 30 * 86400 / rows
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["client", "occurred_at", "destination", "destination_group",
                         "quantity", "unit", "amount", "external_id"])  # fmt: skip
        for n in range(rows):
            group, prefix, unit, price = GROUPS[n % len(GROUPS)]
            quantity = rng.randrange(1, 3600)
            at = time.gmtime(1767225600 + 3600 + int(n * step))  # 2026-01-01 01:00 UTC on
            writer.writerow([rng.randrange(1, clients + 1), time.strftime("%Y-%m-%dT%H:%M:%SZ", at),
                             f"{prefix}{n:06d}", group, quantity, unit,
                             f"{quantity * price:.4f}", f"cdr-{n:08d}"])  # fmt: skip


class Session(threading.Thread):
    """One operator: payments, credit notes and charges until ``stop`` is set."""

    def __init__(self, socket_path: Path, invoices: list[dict[str, Any]], seed: int,
                 stop: threading.Event) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.socket_path, self.invoices, self.stop = socket_path, invoices, stop
        self.rng = random.Random(seed)
        self.latency: dict[str, list[int]] = {}
        self.errors: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def run(self) -> None:
        with ControlClient(self.socket_path, timeout=120) as client:
            while not self.stop.is_set():
                invoice = self.rng.choice(self.invoices)
                method, params = self.rng.choice([
                    ("payment.record", {"client": invoice["client_id"],
                                        "invoice": invoice["id"], "amount": "1.00"}),
                    ("credit_note.issue", {"invoice": invoice["id"], "amount": "0.50"}),
                    ("charge.add", {"client": invoice["client_id"],
                                    "description": "Load test", "amount": "2.00"}),
                ])  # fmt: skip
                began = time.perf_counter_ns()
                try:
                    client.call(method, **params)
                except RemoteError as exc:
                    key = f"{method} {exc.code} {exc}"[:70]
                    (self.refused if exc.code in REFUSALS else self.errors)[key] += 1
                except Exception as exc:  # a broken connection: an error
                    self.errors[f"{method} {type(exc).__name__} {exc}"[:70]] += 1
                    return
                self.latency.setdefault(method, []).append(time.perf_counter_ns() - began)


def measure(args: argparse.Namespace) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="bd-load-", dir="/tmp"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sent_log = folder / "received.txt"
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    server = context.Process(target=sink, args=(port, str(sent_log), ready), daemon=True)
    server.start()
    ready.wait(30)
    lines: list[str] = []
    try:
        with scratch_database(folder, args.pg) as url:
            extra = (
                "clock: test\ninvoicing: manual\n"
                f"smtp:\n  host: 127.0.0.1\n  port: {port}\n  from: billing@load.test\n"
                "  rate: 0\n"
            )
            daemon = Daemon(folder, url, extra)
            try:
                lines = scenario(daemon, folder, args)
            finally:
                daemon.stop()
            locked = (folder / "daemon.log").read_text().count("database is locked")
            lines.insert(-2, f'"database is locked" in the daemon log: {locked}')
    finally:
        server.terminate()
        server.join()
        shutil.rmtree(folder, ignore_errors=True)
    return lines


def wait_run(daemon: Daemon, run_id: int) -> None:
    while daemon.call("run.show", id=run_id)["status"] == "running":
        time.sleep(0.1)


def scenario(daemon: Daemon, folder: Path, args: argparse.Namespace) -> list[str]:
    call = daemon.call
    call("clock.set", to="2026-01-02T08:00:00")
    enterprise = call("enterprise.add", name="Load GmbH", currency="EUR",
                      timezone="Europe/Berlin", start=1)  # fmt: skip
    for n in range(args.n):
        client = call("client.add", name=f"Client {n:04d}", enterprise=enterprise["id"],
                      email=f"billing{n}@example.com", send_email=True)  # fmt: skip
        call("contract.add", client=client["id"], description="Hosted PBX", price="49.90",
             cycle="month", start="2026-01-01", timing="advance")  # fmt: skip
    wait_run(daemon, call("run.start")["id"])
    invoices = call("invoice.list", limit=args.n)
    usage = folder / "usage.csv"
    usage_file(usage, args.n, args.k)
    call("clock.set", to="2026-02-01T08:00:00")

    stop = threading.Event()
    sessions = [Session(daemon.socket, invoices, seed, stop) for seed in range(args.sessions)]
    began = time.monotonic()
    for session in sessions:
        session.start()
    run_id = call("run.start")["id"]
    imported: dict[str, Any] = {}

    def import_usage() -> None:
        code, _output, error = daemon.ctl("usage", "import", str(usage))
        imported.update(code=code, error=error, seconds=time.monotonic() - began)

    importer = threading.Thread(target=import_usage)
    importer.start()
    wait_run(daemon, run_id)
    run_seconds = time.monotonic() - began
    importer.join()
    time.sleep(args.drain)  # the sessions go on while the outbox sends
    stop.set()
    for session in sessions:
        session.join(timeout=120)
    elapsed = time.monotonic() - began
    sent = daemon.query("SELECT COUNT(*) FROM outbox_message WHERE state = 'sent'")[0][0]
    queued = daemon.query("SELECT COUNT(*) FROM outbox_message")[0][0]

    latency: dict[str, list[int]] = {}
    errors: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for session in sessions:
        for method, values in session.latency.items():
            latency.setdefault(method, []).extend(values)
        errors.update(session.errors)
        refused.update(session.refused)
    every = sorted(v for values in latency.values() for v in values)
    lines = [
        f"{args.sessions} sessions writing for {elapsed:.1f} s beside a run of {args.n} "
        f"clients ({run_seconds:.1f} s)",
        f"usage import of {args.k:,} rows: exit {imported['code']} in "
        f"{imported['seconds']:.1f} s {imported['error'][:30]}",
        f"emails sent meanwhile: {sent} of {queued} queued (the writes queue more)",
        f"{'write':<20}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
    ]
    for method, values in [*sorted(latency.items()), ("all", every)]:
        values = sorted(values)
        lines.append(
            f"{method:<20}{len(values):>8}{percentile(values, 0.5):>10.1f}"
            f"{percentile(values, 0.99):>10.1f}{values[-1] / 1e6 if values else 0:>10.1f}"
        )
    locked = sum(n for key, n in errors.items() if "locked" in key)
    lines.append(f"errors: {sum(errors.values())} ({locked} database is locked)")
    lines += [f"  {key} x{n}" for key, n in errors.items()]
    lines.append(f"refused by the books' rules: {sum(refused.values())}")
    lines += [f"  {key} x{n}" for key, n in refused.most_common(3)]
    lines += machine_lines(machine(args.pg))
    return [line[:80] for line in lines]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="clients (default 300)")
    parser.add_argument("-k", type=int, default=100_000, help="usage rows (default 100,000)")
    parser.add_argument("--sessions", type=int, default=8, help="operator sessions (8)")
    parser.add_argument("--drain", type=float, default=20, help="seconds after the import (20)")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server for a scratch database")
    args = parser.parse_args(argv)
    print("\n".join(measure(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
