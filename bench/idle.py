"""An idle daemon's CPU: what ``billingd serve`` costs while nothing happens.

Starts ``billingd serve`` with the default settings (system clock, automatic
invoicing, the nightly schedule, document workers) on a fresh database (``--pg URL``:
a scratch PostgreSQL database) holding ``-n`` clients imported with billingctl, lets
it settle, then reads the CPU time of the daemon's and its child processes' threads
(``/proc/PID/task/TID/schedstat``, in nanoseconds; utime + stime of ``/proc/PID/stat``,
in 10 ms ticks, is printed beside it) before and after ``--seconds`` (default 60) of
doing nothing. Prints the share of one core, the median of ``--repeat`` runs and each
run's figure (with the CPU time used), and the peak RSS. An idle daemon wakes only
every ``FALLBACK_SECONDS`` (30 s, ``billingd/queue_timing.py``) per queue worker and
every ``MARK_SECONDS`` (30 s) for the lease keeper, so ``--seconds`` shorter than a
minute says little.

    python bench/idle.py                       # 60 s, three times
    python bench/idle.py --seconds 10 --repeat 1 -n 100
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import generate
import month
from fixtures import scratch_database
from harness import Daemon, machine, machine_lines, median, process_tree

SETTLE = 5.0  # seconds after start and import before measuring


def cpu_ns(pids: list[int]) -> int:
    """Nanoseconds on a CPU of the live threads of ``pids`` (``schedstat``): an idle
    daemon uses a few of the 10 ms ticks ``/proc/PID/stat`` counts in a minute."""
    used = 0
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            with contextlib.suppress(OSError, ValueError):
                used += int(stat.read_text().split()[0])
    return used


def once(data: Path, seconds: float, postgres: str | None) -> dict[str, float]:
    plan = json.loads((data / "setup.json").read_text())
    folder = Path(tempfile.mkdtemp(prefix="bd-idle-", dir="/tmp"))
    try:
        with scratch_database(folder, postgres) as url:
            daemon = Daemon(folder, url)
            try:
                month.setup_parties(daemon, plan)
                month.import_file(daemon, "client", data / "clients.csv", plan["clients"])
                time.sleep(SETTLE)
                pids = process_tree(daemon.process.pid)
                before, exact, began = daemon.cpu(), cpu_ns(pids), time.perf_counter()
                time.sleep(seconds)
                used, elapsed = daemon.cpu() - before, time.perf_counter() - began
                used_exactly = (cpu_ns(pids) - exact) / 1e9
                return {
                    "cpu_percent": 100 * used_exactly / elapsed,
                    "cpu_seconds": used_exactly,
                    "cpu_percent_ticks": 100 * used / elapsed,
                    "peak_mb": daemon.peak_mb()[0],
                }
            finally:
                daemon.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    data = month.data_folder(generate.Sizes(args.clients, 0))
    runs = [once(data, args.seconds, args.pg) for _ in range(args.repeat)]
    return {
        "scenario": "idle",
        "database": "postgresql" if args.pg else "sqlite",
        "clients": args.clients,
        "seconds": args.seconds,
        "repeats": args.repeat,
        "cpu_percent": round(median([r["cpu_percent"] for r in runs]), 3),
        "cpu_percent_runs": [round(r["cpu_percent"], 3) for r in runs],
        "cpu_seconds_runs": [round(r["cpu_seconds"], 4) for r in runs],
        "cpu_percent_ticks": round(median([r["cpu_percent_ticks"] for r in runs]), 3),
        "peak_mb": round(max(r["peak_mb"] for r in runs), 1),
        "machine": machine(args.pg),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--clients", type=int, default=generate.Sizes.clients)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", metavar="URL", help="a PostgreSQL server to use instead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("\n".join(machine_lines(result["machine"])))
    print(
        f"{result['database']}, {args.clients} clients, idle {args.seconds:.0f} s: "
        f"{result['cpu_percent']:.3f} % of one core (median of {args.repeat}); "
        f"peak RSS {result['peak_mb']} MB"
    )
    print(
        "each run: "
        + ", ".join(
            f"{share:.4f} % ({1000 * used:.1f} ms)"
            for share, used in zip(
                result["cpu_percent_runs"], result["cpu_seconds_runs"], strict=True
            )
        )
        + f"; by /proc/PID/stat ticks: {result['cpu_percent_ticks']:.3f} %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
