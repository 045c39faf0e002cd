"""``billingd demo``: a seeded embedded database for a first look.

Creates, in the user's data directory, a config and a SQLite database with an
enterprise, its brand, a reseller, 50 clients with contracts, a month of usage
and some invoices, then serves it (and, with ``--tui``, opens the terminal UI).
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import platformdirs

from billingd.config import Config, load_config
from billingd.control.client import ConnectionFailed, ControlClient
from billingd.db.connection import open_database
from billingd.db.migrations import migrate
from billingd.db.models import Enterprise
from billingd.plugins import load_plugins
from billingd.services import brands, contracts, invoicing, parties, usage
from billingd.services.context import ServiceContext

CLIENTS = 50
RECORDS_PER_CLIENT = 20
INVOICED_CLIENTS = 12
COMPANIES = ("Alpine", "Baltic", "Cobalt", "Delta", "Ember", "Fjord", "Granite", "Harbor")
KINDS = ("Logistics", "Dental", "Studios", "Legal", "Foods", "Clinic", "Works", "Labs", "Media")
GROUPS = {
    "Mobile DE": Decimal("0.0019"),
    "Fixed DE": Decimal("0.0004"),
    "Mobile EU": Decimal("0.0031"),
    "International": Decimal("0.0120"),
}


def demo_dir() -> Path:
    return Path(platformdirs.user_data_dir("billingd", appauthor=False)) / "demo"


def write_demo_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "billingd.yaml"
    path.write_text(
        "# billingd demo configuration, written by 'billingd demo'\n"
        f"database: sqlite:///{folder / 'billingd.db'}\n"
        f"socket: {folder / 'billingd.sock'}\n"
        f"data_dir: {folder / 'data'}\n"
        "timezone: Europe/Berlin\n"
        "# the demo's clients are invented: their emails stay in the outbox\n"
        "# (billingctl outbox list) instead of going to a mail server\n"
        "smtp:\n  enabled: false\n",
        encoding="utf-8",
    )
    return path


def progress(done: int, total: int, what: str) -> None:
    """A one-line counter on a terminal; silent when stderr is not one."""
    if sys.stderr.isatty():
        end = "\n" if done >= total else ""
        print(f"\r  {what}: {done}/{total}", end=end, file=sys.stderr, flush=True)


def _usage_rows(rng: random.Random, client_id: int, start: dt.date, days: int) -> list[dict]:
    rows = []
    for k in range(RECORDS_PER_CLIENT):
        group = rng.choice(sorted(GROUPS))
        seconds = rng.randint(10, 1800)
        at = dt.datetime.combine(start, dt.time()) + dt.timedelta(
            minutes=rng.randrange(days * 1440)
        )
        rows.append(
            {
                "client": client_id,
                "occurred_at": at.isoformat() + "Z",
                "destination": f"+49{rng.randint(1500000000, 1799999999)}",
                "destination_group": group,
                "quantity": str(seconds),
                "unit": "s",
                "amount": str((GROUPS[group] * seconds).quantize(Decimal("0.0001"))),
                "external_id": f"demo-{client_id}-{k}",
            }
        )
    return rows


def seed(ctx: ServiceContext, today: dt.date) -> None:
    """Fill an empty database with the demo data."""
    rng = random.Random(2026)
    brands.add_brand(ctx, name="Northwind", accent_color="#0b5394", footer="Thank you!")
    enterprise = parties.add_enterprise(
        ctx,
        name="Northwind Telecom GmbH",
        currency="EUR",
        timezone="Europe/Berlin",
        invoice_pattern="%num%/%year%",
        invoice_start=100001,
        tax_rate=Decimal("19"),
        address="Friedrichstraße 12\n10117 Berlin\nGermany",
        tax_id="DE811907980",
        registration_id="HRB 204512 B",
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
        email="billing@northwind.example",
        brand="Northwind",
    )
    reseller = parties.add_reseller(
        ctx, name="Voxa Partners", enterprise_id=enterprise.id, email="ap@voxa.example"
    )
    last_day = today.replace(day=1) - dt.timedelta(days=1)
    first_day = last_day.replace(day=1)
    client_ids = []
    for n in range(1, CLIENTS + 1):
        company = f"{COMPANIES[n % len(COMPANIES)]} {KINDS[n % len(KINDS)]} {n}"
        client = parties.add_client(
            ctx,
            name=company,
            enterprise_id=enterprise.id,
            company=company,
            email=f"billing@client{n}.example",
            address=f"Musterweg {n}\n10115 Berlin",
            contract_number=f"C-{1000 + n}",
            invoice_days="1,15" if n % 3 == 0 else "1",
            reseller_id=reseller.id if n % 10 == 0 else None,
            send_email=True,
        )
        contracts.add_contract(
            ctx,
            client_id=client.id,
            description=rng.choice(("Hosted PBX", "SIP trunk", "Cloud fax")),
            cycle="month",
            unit_price=Decimal(rng.choice(("49.00", "99.00", "149.00"))),
            quantity=Decimal(rng.randint(1, 5)),
            start_date=first_day,
        )
        rows = _usage_rows(rng, client.id, first_day, last_day.day)
        usage.import_usage(ctx, enumerate(rows, start=2))
        client_ids.append(client.id)
        progress(n, CLIENTS, "clients")
    for n, client_id in enumerate(client_ids[:INVOICED_CLIENTS], start=1):
        invoicing.invoice_for_period(
            ctx, client_id=client_id, period_start=first_day, period_end=last_day
        )
        progress(n, INVOICED_CLIENTS, "invoices")
    invoicing.invoice_for_amount(
        ctx, client_id=client_ids[-1], issue_date=today, amount=Decimal("500.00")
    )


def prepare(config: Config, reset: bool) -> None:
    """Create the demo database once (again with ``reset``)."""
    if reset and config.data_dir.parent.exists():
        database_file = Path(config.database.removeprefix("sqlite:///"))
        for stale in database_file.parent.glob(database_file.name + "*"):
            stale.unlink()
        shutil.rmtree(config.data_dir, ignore_errors=True)
    database = open_database(config.database)
    migrate(database)
    if Enterprise.select().exists():
        return
    print("Creating demo data…", file=sys.stderr)
    plugins = load_plugins(config.plugins.get("settings"), config.plugins.get("enabled"))
    ctx = ServiceContext(actor="demo", plugins=plugins, data_dir=config.data_dir)
    seed(ctx, ctx.today("Europe/Berlin"))
    database.close()


def run_demo(config_path: Path | None, open_tui: bool, reset: bool) -> int:
    config = load_config(config_path or write_demo_config(demo_dir()))
    prepare(config, reset)
    source = str(config.source)
    if not open_tui:
        print(
            f"Serving the demo on {config.socket}.\n"
            f"Open the terminal UI in another terminal:  billing-tui --socket {config.socket}\n"
            f"Or script it:  billingctl --socket {config.socket} client list\n"
            "Stop with Ctrl-C.",
            file=sys.stderr,
        )
        from billingd.daemon import serve

        return serve(config)
    log_path = config.data_dir / "daemon.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "billingd", "serve", "--config", source],
            stdout=log,
            stderr=log,
        )
    try:
        if not wait_until_serving(config.socket, daemon):
            print(f"billingd: the demo daemon did not start; see {log_path}", file=sys.stderr)
            return 2
        from billingd_tui.app import main as tui_main

        return tui_main(["--socket", str(config.socket)])
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def wait_until_serving(socket_path: Path, daemon: subprocess.Popen, timeout: float = 30) -> bool:
    """True once the daemon answers on its socket (a stale socket file does not count)."""
    deadline = time.monotonic() + timeout
    while daemon.poll() is None and time.monotonic() < deadline:
        try:
            with ControlClient(socket_path, timeout=2) as client:
                client.call("status")
            return True
        except (ConnectionFailed, OSError):
            time.sleep(0.1)
    return False
