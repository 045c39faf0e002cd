"""billingd against django-silver 0.11.1 on the same month: invoices per second.

Installs django-silver 0.11.1 (with the Django it pins, 3.2) into a scratch virtual
environment, kept in a cache folder for the next time; silver is not a billingd
dependency. The generator's month (``bench/generate.py``, ``-n`` clients, ``-k``
usage rows) is then billed by both:

* billingd: ``bench/month.py``'s pipeline up to the run (a real daemon, the files
  imported with billingctl, ``billingctl run --until`` the 1st of the next month);
* silver: ``bench/silver_side.py`` in silver's environment loads the same customers,
  plans, subscriptions and the month's metered units into SQLite, then times silver's
  ``generate_docs --date`` for the same day.

Neither figure includes PDF rendering (billingd's document queue and silver's
``generate_pdfs`` do that afterwards). Prints both rates and their ratio, each the
median of ``--repeat`` runs.

    python bench/silver.py                   # 10,000 customers, 1,000,000 usage rows
    python bench/silver.py -n 1000 -k 100000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

import generate
import month
from harness import machine, machine_lines, median

SILVER = "django-silver==0.11.1"
EXTRA = ("typing_extensions",)  # django-annoying 0.10.8 imports it but does not require it
HERE = Path(__file__).resolve().parent


def silver_python(cache: Path) -> Path:
    """The scratch environment's interpreter, silver installed (once)."""
    python = cache / "bin" / "python"
    if (cache / "installed").exists():
        return python
    shutil.rmtree(cache, ignore_errors=True)
    venv.create(cache, with_pip=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", SILVER, *EXTRA],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"pip install {SILVER} failed:\n{done.stdout}{done.stderr}")
    (cache / "installed").write_text(SILVER + "\n")
    return python


def silver_once(python: Path, data: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bd-silver-", dir="/tmp"))
    try:
        done = subprocess.run(
            # -I: neither bench/ (whose silver.py would shadow silver) nor PYTHONPATH
            [str(python), "-I", str(HERE / "silver_side.py"), str(data), str(work)],
            capture_output=True,
            text=True,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"silver failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    month.add_options(parser)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "billingd-bench" / "silver-0.11.1",
        help="where silver's virtual environment is kept",
    )
    parser.add_argument(
        "--silver-only", action="store_true", help="silver's figures only, as JSON (all.py)"
    )
    args = parser.parse_args(argv)
    if args.pg:
        parser.error("the comparison runs on SQLite only")
    data = month.data_folder(generate.Sizes(args.clients, args.usage))
    python = silver_python(args.cache)
    silvers = [silver_once(python, data) for _ in range(args.repeat)]
    seconds = median([s["seconds"] for s in silvers])
    silver_rate = silvers[0]["invoices"] / seconds
    result: dict[str, Any] = {
        "machine": machine(),
        "customers": args.clients,
        "usage_rows": args.usage,
        "repeats": args.repeat,
        "silver": {**silvers[0], "seconds": seconds, "invoices_per_s": round(silver_rate, 1)},
    }
    if args.silver_only:
        print(json.dumps(result, indent=2))
        return 0
    runs = [month.once(data, "run", None) for _ in range(args.repeat)]
    run = month.summary(runs)["stages"]["run"]
    result["billingd"] = {
        "invoices": run["count"],
        "seconds": run["seconds"],
        "invoices_per_s": run["rate"],
    }
    result["ratio"] = round(run["rate"] / silver_rate, 2)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    s, b = result["silver"], result["billingd"]
    print("\n".join(machine_lines(result["machine"])))
    print(f"{args.clients} customers, {args.usage} usage rows, median of {args.repeat}")
    print(
        f"django-silver {s['silver']} (Django {s['django']}): {s['invoices']} invoices "
        f"in {s['seconds']:.2f} s = {s['invoices_per_s']} invoices/s"
    )
    print(
        f"billingd: {b['invoices']} invoices in {b['seconds']:.2f} s"
        f" = {b['invoices_per_s']} invoices/s"
    )
    print(f"billingd / silver: {result['ratio']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
