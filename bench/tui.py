"""billing-tui against 100,000 clients: time to first paint and per-keystroke search.

Writes the clients into a fresh SQLite database in a temporary directory (``--pg URL``:
a scratch PostgreSQL database) in bulk, starts ``billingd serve`` on it, then drives
the real app headless through Textual's pilot at 80x24:

* **first paint**: from starting the app until the clients screen shows its first page
  of clients (the table's rows are on screen, and its title counts them);
* **keystrokes**: the search box focused, a client's name typed one key at a time;
  for each key, the time from the key press until the table shows that text's result
  (a new query was answered and every row shown matches the text).

Targets: first paint < 1 s, each keystroke < 100 ms.

    python bench/tui.py                    # 100,000 clients, types "Client 054321"
    python bench/tui.py -n 20000 --runs 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from textual import events

from billingd.db.connection import is_postgres, open_database, write_transaction
from billingd.db.migrations import migrate
from billingd.db.models import BillGroup, Client
from billingd.services import parties
from billingd.services.context import ServiceContext
from billingd_tui.app import BillingApp
from billingd_tui.screens import ClientsScreen
from billingd_tui.widgets import PagedTable
from fixtures import scratch_database
from harness import machine, peak_kb, start_daemon

CHUNK = 500  # clients per INSERT
SIZE = (80, 24)
POLL = 0.002  # seconds between looks at the screen while waiting


def seed(database: str, clients: int) -> float:
    """``clients`` clients of one enterprise, written straight into the database before
    the daemon starts: each row as ``client.add`` makes it (the client and its default
    bill group; no audit entries), in bulk. The seconds it took."""
    started = time.perf_counter()
    db = open_database(database)
    migrate(db)
    ctx = ServiceContext(actor="bench", plugins=None, data_dir=Path(tempfile.gettempdir()))
    enterprise = parties.add_enterprise(ctx, name="Bench GmbH", currency="EUR")
    with write_transaction():
        for first in range(0, clients, CHUNK):
            numbers = range(first, min(first + CHUNK, clients))
            Client.insert_many(
                {
                    "enterprise": enterprise.id,
                    "name": f"Client {n:06d}",
                    "company": f"Company {n % 997:03d} GmbH",
                    "email": f"billing{n}@example.com",
                    "currency": "EUR",
                }
                for n in numbers
            ).execute()
        ids = [client_id for (client_id,) in Client.select(Client.id).tuples()]
        for first in range(0, len(ids), CHUNK):
            BillGroup.insert_many(
                {"client": client_id, "name": "Default", "is_default": True}
                for client_id in ids[first : first + CHUNK]
            ).execute()
    if is_postgres(db):
        db.execute_sql("ANALYZE")  # the statistics autovacuum would gather after a bulk load
    db.close()
    return time.perf_counter() - started


async def _until(condition: Any, what: str, timeout: float = 30) -> float:
    """Let the app run until ``condition()``; the moment it held (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for the TUI: {what}")
        await asyncio.sleep(POLL)
    return time.perf_counter()


def _key(app: BillingApp, char: str) -> None:
    """Hand one key to the app as the terminal driver does. (The pilot's ``press`` also
    waits until the app is idle, a wait that would be counted in the latency.)"""
    event = events.Key("space" if char == " " else char, char)
    event.set_sender(app)
    app._driver.send_message(event)


def _shows(table: PagedTable, text: str, query: int) -> bool:
    """The table answered a query newer than ``query`` and every row shown matches
    ``text`` (none may: the last keys of a name beyond the clients seeded)."""
    if table.query_id <= query or table.fetching:
        return False
    names = [str(table.get_cell(key, "name")).lower() for key in table.rows]
    companies = [str(table.get_cell(key, "company")).lower() for key in table.rows]
    return all(
        text.lower() in n or text.lower() in c for n, c in zip(names, companies, strict=True)
    )


async def drive(socket_path: Path, typed: str) -> tuple[float, list[tuple[str, float]]]:
    """One app session: the first paint, then each keystroke's latency (seconds)."""
    started = time.perf_counter()
    app = BillingApp(socket_path=socket_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        table = screen.query_one("#clients", PagedTable)
        painted = await _until(lambda: table.row_count > 0 and not table.fetching, "a page")
        first_paint = painted - started
        await pilot.press("slash")
        await _until(lambda: app.focused is screen.query_one("#search"), "the search box")
        keys: list[tuple[str, float]] = []
        for n, key in enumerate(typed, start=1):
            query = table.query_id
            pressed = time.perf_counter()
            _key(app, key)
            text = typed[:n]
            shown = await _until(partial(_shows, table, text, query), repr(text))
            keys.append((text, shown - pressed))
        await pilot.press("escape", "q")
    return first_paint, keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--clients", type=int, default=100_000)
    parser.add_argument("--type", default="Client 054321", help="the text typed")
    parser.add_argument("--runs", type=int, default=3, help="app sessions to time")
    parser.add_argument("--pg", metavar="URL", help="a PostgreSQL server to use instead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bd-tui-", dir="/tmp"))
    try:
        with scratch_database(folder, args.pg) as database:
            seconds = seed(database, args.clients)
            daemon = start_daemon(folder, database)
            try:
                socket_path = folder / "billingd.sock"
                sessions = [asyncio.run(drive(socket_path, args.type)) for _ in range(args.runs)]
                peak_mb = peak_kb(daemon.pid) / 1024
            finally:
                daemon.terminate()
                daemon.wait(timeout=30)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    paints = [paint for paint, _ in sessions]
    per_key = [latency for _, keys in sessions for _, latency in keys]
    worst = {text: max(dict(keys)[text] for _, keys in sessions) for text, _ in sessions[0][1]}
    result = {
        "machine": machine(),
        "database": "postgresql" if args.pg else "sqlite",
        "clients": args.clients,
        "seed_seconds": round(seconds, 1),
        "first_paint_ms": [round(p * 1000, 1) for p in paints],
        "first_paint_median_ms": round(statistics.median(paints) * 1000, 1),
        "daemon_peak_mb": round(peak_mb, 1),
        "keystroke_ms": {
            "median": round(statistics.median(per_key) * 1000, 1),
            "max": round(max(per_key) * 1000, 1),
            "worst_by_text": {text: round(ms * 1000, 1) for text, ms in worst.items()},
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['machine']}")
    print(f"{args.clients:,} clients on {result['database']}, written in {seconds:.1f} s")
    print(
        f"first paint of the clients screen: {', '.join(f'{p * 1000:.0f} ms' for p in paints)}"
        f" (median {result['first_paint_median_ms']:.0f} ms); daemon peak RSS {peak_mb:.0f} MB"
    )
    print(
        f"per keystroke ({len(per_key)} keys over {args.runs} runs): median "
        f"{result['keystroke_ms']['median']} ms, max {result['keystroke_ms']['max']} ms"
    )
    for text, ms in worst.items():
        print(f"  {text!r:<18} {ms * 1000:6.1f} ms (worst of {args.runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
