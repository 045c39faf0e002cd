"""``billingd doctor`` on a month of a telecom: how long the checks take.

The database is the one ``bench/month.py documents`` makes (the generator's clients,
contracts and usage imported through a real daemon, the run to the 1st of the next
month, every document rendered), kept in a cache folder so that repeats and later
measurements reuse it. Then ``billingd doctor --json`` runs ``--repeat`` times, the
daemon stopped: wall time, CPU time and each check's seconds (medians), and what it
found (a clean month finds nothing).

    python bench/doctor.py                      # 10,000 clients, 1,000,000 usage rows
    python bench/doctor.py -n 1000 -k 100000    # a minute to build
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import generate
from harness import Daemon, machine, machine_lines, median
from month import data_folder, setup_parties, stages


def built_month(sizes: generate.Sizes) -> Path:
    """The folder of a billed month (config, database, documents), built once."""
    version = hashlib.sha256(Path(generate.__file__).read_bytes()).hexdigest()[:8]
    folder = Path(tempfile.gettempdir()) / (
        f"bd-bench-doctor-n{sizes.clients}-k{sizes.usage}-{sizes.month}-{version}"
    )
    if (folder / "built").exists():
        return folder
    folder.mkdir(exist_ok=True)
    data = data_folder(sizes)
    plan = json.loads((data / "setup.json").read_text())
    daemon = Daemon(folder, f"sqlite:///{folder / 'bench.db'}", "clock: test\ninvoicing: manual\n")
    try:
        code, _, error = daemon.ctl("clock", "set", plan["import_clock"])
        assert code == 0, error
        setup_parties(daemon, plan)
        stages(daemon, data, plan, "documents")
    finally:
        daemon.stop()
    (folder / "built").touch()
    return folder


def once(config: Path) -> dict[str, Any]:
    """One ``billingd doctor --json``: its report, wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "billingd", "doctor", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode == 2:
        raise SystemExit(f"doctor could not check: {result.stdout}{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"report": json.loads(result.stdout), "wall": wall, "cpu": cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--clients", type=int, default=generate.Sizes.clients)
    parser.add_argument("-k", "--usage", type=int, default=generate.Sizes.usage)
    parser.add_argument("--repeat", type=int, default=3, help="median of (default 3)")
    args = parser.parse_args(argv)
    folder = built_month(generate.Sizes(args.clients, args.usage))
    runs = [once(folder / "billingd.yaml") for _ in range(args.repeat)]
    checks = [c["name"] for c in runs[0]["report"]["checks"]]
    print("\n".join(machine_lines(machine())))
    print(f"sqlite: {args.clients} clients, {args.usage} usage rows, median of {args.repeat}")
    print(
        f"billingd doctor: {median([r['wall'] for r in runs]):.2f} s wall, "
        f"{median([r['cpu'] for r in runs]):.2f} s CPU, "
        f"{len(runs[0]['report']['problems'])} problems"
    )
    for index, name in enumerate(checks):
        seconds = median([r["report"]["checks"][index]["seconds"] for r in runs])
        print(f"  {name:<12} {seconds:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
