"""Every scenario, one after the other, and one table of their figures (80 columns).

Runs, each as its own command with ``--json``: ``month.py outbox`` (imports, billing
run, document queue, outbox, socket reads during the run, peak RSS), ``idle.py``,
``tui.py`` (first paint) and, on SQLite, ``silver.py --silver-only`` (the ratio is
taken against the month's billing run). Sizes and ``--pg`` are passed on; the targets
are issue 13's.

    python bench/all.py                          # full size: about an hour today
    python bench/all.py -n 1000 -k 100000 --repeat 1 --idle-seconds 10
    python bench/all.py --markdown               # the table as Markdown (README)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import machine, machine_lines

HERE = Path(__file__).resolve().parent
NAMES = {
    "clients": ("client import", ">= 50,000"),
    "contracts": ("contract import", ">= 50,000"),
    "usage": ("usage import", ">= 200,000"),
    "run": ("billing run", ">= 2,000"),
    "documents": ("documents ready", ">= 100/core"),
    "outbox": ("emails sent", ""),
}


def scenario(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args, "--json"], capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"error": (done.stderr.strip() or done.stdout.strip()).splitlines()[-1][:200]}
    return json.loads(done.stdout)


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(what, how many, seconds, figure, target) for each measured figure."""
    out = []
    month = results["month"]
    for stage, row in month.get("stages", {}).items():
        name, target = NAMES[stage]
        figure = f"{row['rate']:,.0f} {row['unit']}"
        out.append((name, f"{row['count']:,}", f"{row['seconds']:.2f}", figure, target))
    if "latency_ms" in month:
        lat = month["latency_ms"]
        figure = f"p50 {lat['p50']:.1f} p99 {lat['p99']:.0f} ms"
        out.append(("reads during run", f"{lat['requests']:,}", "", figure, ""))
    if "peak_mb" in month:
        figure = f"{month['peak_mb']['daemon']:.0f} MB"
        out.append(("daemon peak RSS", "", "", figure, "< 300 MB"))
        out.append(("+ its processes", "", "", f"{month['peak_mb']['all_processes']:.0f} MB", ""))
    idle = results["idle"]
    if "cpu_percent" in idle:
        figure = f"{idle['cpu_percent']:.3f} % CPU"
        out.append(("idle daemon", "", f"{idle['seconds']:.0f}", figure, "< 0.1 %"))
    tui = results["tui"]
    if "first_paint_median_ms" in tui:
        figure = f"{tui['first_paint_median_ms']:.0f} ms"
        out.append(("TUI first paint", f"{tui['clients']:,}", "", figure, "< 1 s"))
    silver = results.get("silver", {})
    if "ratio" in silver:
        figure = f"{silver['silver']['invoices_per_s']:.0f} invoices/s"
        out.append(("django-silver run", f"{silver['silver']['invoices']:,}", "", figure, ""))
        out.append(("billingd / silver", "", "", f"{silver['ratio']:.2f}x", ">= 25x"))
    for name, result in results.items():
        if "error" in result:
            out.append((name, "failed", "", result["error"][:30], ""))
    return out


def table(found: list[tuple[str, str, str, str, str]], markdown: bool) -> list[str]:
    header = ("scenario", "count", "seconds", "figure", "target")
    if markdown:
        return [
            "| " + " | ".join(header) + " |",
            "|---|--:|--:|--:|--:|",
            *("| " + " | ".join(row) + " |" for row in found),
        ]
    line = "{:<18} {:>9} {:>8} {:>24} {:>12}"
    return [line.format(*header), *(line.format(*row) for row in found)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--clients", type=int, default=10_000)
    parser.add_argument("-k", "--usage", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="median of (default 3)")
    parser.add_argument("--pg", metavar="URL", help="a PostgreSQL server to use instead")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--tui-clients", type=int, default=100_000)
    parser.add_argument("--no-silver", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = ["-n", str(args.clients), "-k", str(args.usage), "--repeat", str(args.repeat)]
    database = ["--pg", args.pg] if args.pg else []
    results = {"month": scenario("month.py", "outbox", *sizes, *database)}
    results["idle"] = scenario(
        "idle.py", "-n", str(args.clients), "--repeat", str(args.repeat),
        "--seconds", str(args.idle_seconds), *database,
    )  # fmt: skip
    tui_runs = ["-n", str(args.tui_clients), "--runs", str(args.repeat)]
    results["tui"] = scenario("tui.py", *tui_runs, *database)
    if not args.pg and not args.no_silver:
        results["silver"] = scenario("silver.py", *sizes, "--silver-only")
        if "run" in results["month"].get("stages", {}) and "silver" in results["silver"]:
            ours = results["month"]["stages"]["run"]["rate"]
            theirs = results["silver"]["silver"]["invoices_per_s"]
            results["silver"]["ratio"] = round(ours / theirs, 2)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("\n".join(machine_lines(machine(args.pg))))
    print(
        f"{'postgresql' if args.pg else 'sqlite'}: {args.clients:,} clients, "
        f"{args.usage:,} usage rows, median of {args.repeat}"
    )
    print("\n".join(table(rows(results), args.markdown)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
