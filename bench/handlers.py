"""Socket method handlers timed in-process: the database and view work of one request,
without the socket, the framing or the thread hand-offs.

Seeds a scratch database like ``socket_latency.py`` (an enterprise, 200 clients, 20
invoices), then calls each hot read's handler the way the server does (parameters
validated, then the handler) and prints the mean time per call.

    python bench/handlers.py
    python bench/handlers.py -n 10000 --pg postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import functools
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from billingd.control.params import validate_params
from billingd.control.server import METHODS
from billingd.db.connection import open_database
from billingd.db.migrations import migrate
from billingd.plugins import load_plugins
from billingd.services.context import ServiceContext
from fixtures import HOT_READS, scratch_database, seed_hot_reads


def call(ctx: ServiceContext, method_name: str, /, **params: Any) -> Any:
    """A socket method called as the server calls it: parameters validated, then the handler."""
    entry = METHODS[method_name]
    return entry.handler(ctx, **validate_params(entry.params, params))


def time_handlers(url: str, folder: Path, calls: int) -> dict[str, float]:
    """Microseconds per call of each hot read, after a warm-up."""
    database = open_database(url)
    migrate(database)
    ctx = ServiceContext(actor="bench", plugins=load_plugins(None, None), data_dir=folder)
    seed_hot_reads(functools.partial(call, ctx))
    timings = {}
    for method_name, params in HOT_READS:
        for _ in range(200):
            call(ctx, method_name, **params)
        began = time.perf_counter()
        for _ in range(calls):
            call(ctx, method_name, **params)
        timings[method_name] = (time.perf_counter() - began) / calls * 1e6
    database.close()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--calls", type=int, default=3000, help="calls per method")
    parser.add_argument("--pg", metavar="URL", help="on a scratch PostgreSQL database")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bd-bench-"))
    try:
        with scratch_database(folder, args.pg) as url:
            timings = time_handlers(url, folder / "data", args.calls)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{'postgresql' if args.pg else 'sqlite'}, {args.calls} calls each:")
    for method_name, micros in timings.items():
        print(f"  {method_name:<14} {micros:8.1f} µs per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
