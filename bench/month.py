"""A telecom's month through a real daemon, as an operator does it with billingctl.

One pipeline, in stages, on a fresh database each time (``--pg URL``: a scratch
PostgreSQL database): ``billingd serve`` with the test clock on the last day of the
month and invoicing by hand; the enterprises and resellers of ``setup.json`` added
over the socket; then, each timed:

* ``clients``, ``contracts``, ``usage``: ``billingctl client|contract|usage import``
  of the generator's files (``bench/generate.py``), rows/s;
* ``run``: the clock moved to the 1st of the next month, ``billingctl run --until``
  that day: one invoice per client (contracts imported during the month are not
  back-billed, R-RUN-8) and one per reseller whose clients had usage (R-INV-3),
  invoices/s (the run's own work; documents and emails follow from the queues);
* ``documents``: until every document job is ready, documents/s from the run's start;
* ``outbox``: until every invoice email is accepted by a local SMTP server;
* ``latency``: a client reading the socket during the run (``status``,
  ``client.list``, ``invoice.show``, 20 requests/s): p50/p99/max.

The scenario named runs the stages up to it (the earlier ones are its setup, and are
printed too), ``--repeat`` times (default 3); each figure is the median. Also printed:
the machine, the daemon's peak RSS (its own VmHWM, and the sum over its processes).

    python bench/month.py run                      # 10,000 clients, 1,000,000 rows
    python bench/month.py usage -n 1000 -k 100000  # about a minute
    python bench/month.py outbox -n 1000 -k 100000 --pg postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import generate
from billingd.control.client import ControlClient, RemoteError
from fixtures import HOT_READS, scratch_database
from harness import Daemon, machine, machine_lines, median, percentile, timed

STAGES = ("clients", "contracts", "usage", "run", "documents", "outbox")
SCENARIOS = (*STAGES, "latency")
UNITS = {"documents": "docs/s", "outbox": "mails/s", "run": "invoices/s"}
PROBE_INTERVAL = 0.05  # seconds between the latency client's requests
DRAIN_TIMEOUT = 3600.0


def data_folder(sizes: generate.Sizes) -> Path:
    """The generator's files for ``sizes``, written once and kept (they are seeded) for
    this version of the generator."""
    version = hashlib.sha256(Path(generate.__file__).read_bytes()).hexdigest()[:8]
    folder = Path(tempfile.gettempdir()) / (
        f"bd-bench-data-n{sizes.clients}-k{sizes.usage}-{sizes.month}-s{sizes.seed}-{version}"
    )
    if not (folder / "usage.csv").exists():
        generate.generate(folder, sizes)
    return folder


def children_cpu() -> float:
    """CPU seconds of this process's children that have ended (billingctl's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_file(daemon: Daemon, noun: str, path: Path, rows: int) -> dict[str, Any]:
    """``billingctl NOUN import PATH``, the whole file, timed; with the CPU time the
    daemon and billingctl spent on it (less noisy than the time on a shared machine)."""
    cpu = daemon.cpu() + children_cpu()
    seconds, (code, _, error) = timed(lambda: daemon.ctl(noun, "import", str(path)))
    if code != 0:
        raise SystemExit(f"{noun} import failed: {error}")
    return {"count": rows, "seconds": seconds, "cpu": daemon.cpu() + children_cpu() - cpu}


class Prober(threading.Thread):
    """A socket client reading while the run goes on, timing each answer."""

    def __init__(self, socket: Path) -> None:
        super().__init__(daemon=True)
        self.socket = socket
        self.stop = threading.Event()
        self.timings: list[int] = []

    def run(self) -> None:
        with ControlClient(self.socket, timeout=600) as client:
            number = 0
            while not self.stop.wait(PROBE_INTERVAL):
                name, params = HOT_READS[number % len(HOT_READS)]
                number += 1
                began = time.perf_counter_ns()
                try:
                    client.call(name, **params)
                except RemoteError:  # invoice 1 does not exist yet
                    continue
                self.timings.append(time.perf_counter_ns() - began)


def wait_for(daemon: Daemon, sql: str, target: int, began: float) -> float:
    """Seconds from ``began`` until ``sql`` counts ``target``."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while daemon.query(sql)[0][0] < target:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for: {sql}")
        time.sleep(0.1)
    return time.perf_counter() - began


def setup_parties(daemon: Daemon, plan: dict[str, Any]) -> None:
    for number, enterprise in enumerate(plan["enterprises"], start=1):
        assert daemon.call("enterprise.add", **enterprise)["id"] == number, "not an empty db"
    for number, reseller in enumerate(plan["resellers"], start=1):
        assert daemon.call("reseller.add", **reseller)["id"] == number, "not an empty db"


def smtp_config(port: int) -> str:
    return f"smtp:\n  host: 127.0.0.1\n  port: {port}\n  from: billing@telecom.test\n  rate: 0\n"


def stages(daemon: Daemon, data: Path, plan: dict[str, Any], last: str) -> dict[str, Any]:
    """Run the stages up to ``last``; each one's figures."""
    n, figures = plan["clients"], {}
    figures["clients"] = import_file(daemon, "client", data / "clients.csv", n)
    assert daemon.call("status")["clients"] == n
    if last == "clients":
        return figures
    figures["contracts"] = import_file(daemon, "contract", data / "contracts.csv", n)
    if last == "contracts":
        return figures
    figures["usage"] = import_file(daemon, "usage", data / "usage.csv", plan["usage"])
    if last == "usage":
        return figures
    code, _, error = daemon.ctl("clock", "set", plan["run_clock"])
    assert code == 0, error
    prober = Prober(daemon.socket)
    prober.start()
    began = time.perf_counter()
    code, run, error = daemon.ctl("run", "--until", plan["next_month"])
    ran = time.perf_counter() - began
    prober.stop.set()
    prober.join()
    if code != 0 or run["invoices"] < n or run["failures"]:
        raise SystemExit(f"run: {code} {error} {json.dumps(run)[:2000]}")
    invoices, emails = run["invoices"], run["emails"]  # and resellers' (R-INV-3)
    figures["run"] = {"count": invoices, "seconds": ran}
    figures["latency"] = sorted(prober.timings)
    if last in ("run", "latency"):
        return figures
    ready = "SELECT COUNT(*) FROM document_job WHERE state = 'ready'"
    seconds = wait_for(daemon, ready, invoices, began)
    figures["documents"] = {"count": invoices, "seconds": seconds}
    if last == "documents":
        return figures
    sent = "SELECT COUNT(*) FROM outbox_message WHERE state = 'sent' AND channel = 'email'"
    seconds = wait_for(daemon, sent, emails, began)
    figures["outbox"] = {"count": emails, "seconds": seconds}
    return figures


def once(data: Path, last: str, postgres: str | None) -> dict[str, Any]:
    """One pipeline on a fresh database; its figures and the peak RSS."""
    from outbox import sink  # the SMTP server that counts what it accepts

    plan = json.loads((data / "setup.json").read_text())
    folder = Path(tempfile.mkdtemp(prefix="bd-month-", dir="/tmp"))
    port = 20000 + (os.getpid() + int(time.time())) % 20000
    context = multiprocessing.get_context("spawn")
    received, ready = context.Value("i", 0), context.Event()
    server = context.Process(target=sink, args=(port, received, ready), daemon=True)
    server.start()
    ready.wait(30)
    try:
        with scratch_database(folder, postgres) as url:
            extra = "clock: test\ninvoicing: manual\n" + smtp_config(port)
            daemon = Daemon(folder, url, extra)
            try:
                code, _, error = daemon.ctl("clock", "set", plan["import_clock"])
                assert code == 0, error
                setup_parties(daemon, plan)
                figures = stages(daemon, data, plan, last)
                figures["peak_mb"] = daemon.peak_mb()
            finally:
                daemon.stop()
    finally:
        server.terminate()
        server.join()
        shutil.rmtree(folder, ignore_errors=True)
    return figures


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repeats: per stage seconds and rate; latency; peak RSS."""
    result: dict[str, Any] = {"repeats": len(runs), "stages": {}}
    for stage in STAGES:
        measured = [r[stage] for r in runs if stage in r]
        if measured:
            seconds = median([m["seconds"] for m in measured])
            count = measured[0]["count"]
            result["stages"][stage] = {
                "count": count,
                "seconds": round(seconds, 2),
                "rate": round(count / seconds, 1),
                "unit": UNITS.get(stage, "rows/s"),
            }
            if "cpu" in measured[0]:
                cpu = median([m["cpu"] for m in measured])
                result["stages"][stage]["cpu_seconds"] = round(cpu, 2)
    latencies = [r["latency"] for r in runs if "latency" in r]
    if latencies:
        result["latency_ms"] = {
            name: round(median([percentile(t, fraction) for t in latencies]), 2)
            for name, fraction in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
        }
        result["latency_ms"]["requests"] = sum(len(t) for t in latencies)
    result["peak_mb"] = {
        "daemon": round(max(r["peak_mb"][0] for r in runs), 1),
        "all_processes": round(max(r["peak_mb"][1] for r in runs), 1),
    }
    return result


def report_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"{'stage':<10} {'count':>9} {'seconds':>9} {'rate':>10} unit"]
    for stage, row in result["stages"].items():
        cpu = f" (CPU {row['cpu_seconds']:.2f} s)" if "cpu_seconds" in row else ""
        lines.append(
            f"{stage:<10} {row['count']:>9} {row['seconds']:>9.2f} {row['rate']:>10.1f} "
            f"{row['unit']}{cpu}"
        )
    if "latency_ms" in result:
        lat = result["latency_ms"]
        lines.append(
            f"socket reads during the run: p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
            f"max {lat['max']} ms ({lat['requests']} requests)"
        )
    peak = result["peak_mb"]
    lines.append(
        f"daemon peak RSS: {peak['daemon']} MB; all its processes: {peak['all_processes']} MB"
    )
    return lines


def add_options(parser: argparse.ArgumentParser) -> None:
    """The sizes and database options every scenario takes."""
    parser.add_argument("-n", "--clients", type=int, default=generate.Sizes.clients)
    parser.add_argument("-k", "--usage", type=int, default=generate.Sizes.usage)
    parser.add_argument("--repeat", type=int, default=3, help="median of (default 3)")
    parser.add_argument("--pg", metavar="URL", help="a PostgreSQL server to use instead")
    parser.add_argument("--json", action="store_true")


def measure(scenario: str, args: argparse.Namespace) -> dict[str, Any]:
    data = data_folder(generate.Sizes(args.clients, args.usage))
    runs = [once(data, scenario, args.pg) for _ in range(args.repeat)]
    return {
        "scenario": scenario,
        "database": "postgresql" if args.pg else "sqlite",
        "clients": args.clients,
        "usage_rows": args.usage,
        "machine": machine(args.pg),
        **summary(runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    add_options(parser)
    args = parser.parse_args(argv)
    result = measure(args.scenario, args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("\n".join(machine_lines(result["machine"])))
    print(
        f"{result['database']}: {args.clients} clients, {args.usage} usage rows, "
        f"median of {result['repeats']}"
    )
    print("\n".join(report_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
