"""The billing oracle through a real daemon and its socket (issue 9), a few fixed seeds.

A smaller variant of ``test_billing_oracle.py``: each seed drives ``billingd serve``
with ``clock: test`` and the real ``billingctl --json`` commands — clients with and without
invoice days, resellers, contracts, usage files, charges, the test clock, dry runs
and runs, period invoices, payments and credit notes — and feeds the model the same
operations. With ``invoicing: manual`` only the operator's ``billingctl run`` bills;
with ``invoicing: auto`` the daemon bills by itself: moving the test clock performs
the nightly run of each day passed at its own instant (R-RUN-15), and a client's new
contract is billed at once (R-RUN-5); the model replays both. After each step the
daemon's database is read back and checked like the in-process machine does. Slow:
one ``billingctl`` process per operation.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import pytest

from billingd.db.connection import open_database
from billingd.db.models import BillGroup, Invoice, Run, UsageRecord
from tests.conftest import RunningDaemon, billingctl

from .checks import (
    dry_run_problems,
    invariant_problems,
    match_run,
    operator_problems,
    report,
    state_problems,
)
from .clock import local
from .model import Charge, Contract, Group, Model, Party, add_months

SEEDS = ((3, "manual"), (14, "manual"), (15, "auto"), (92, "auto"), (65, "auto"))
STEPS = 28
ZONES = ("Europe/Berlin", "America/New_York", "Pacific/Auckland")


class Driver:
    """One seed's daemon, its model and the operations, all through billingctl."""

    def __init__(self, folder: Path, seed: int, invoicing: str) -> None:
        self.rng = random.Random(seed)
        self.timezone = self.rng.choice(ZONES)
        self.folder = folder
        self.auto = invoicing == "auto"
        self.instant = dt.datetime.now(dt.UTC)
        self.config = f"clock: test\ninvoicing: {invoicing}\ntimezone: {self.timezone}\n"
        self.url = f"sqlite:///{folder / 'billing.db'}"
        self.daemon = RunningDaemon(folder, self.url, self.config)
        self.database = open_database(self.url)
        self.today = dt.date(2030, 1, 1) + dt.timedelta(days=self.rng.randrange(700))
        self.model = Model(self.timezone, Decimal(0))
        self.move(self.today, 9)
        self.rate = self.rng.choice((Decimal("19"), Decimal("7")))
        self.enterprise = self.ctl(
            "enterprise",
            "add",
            "--name",
            "Oracle GmbH",
            "--currency",
            "EUR",
            "--timezone",
            self.timezone,
            "--pattern",
            "%num%/%year%",
            "--start",
            "100001",
            "--tax-rate",
            str(self.rate),
            "--terms",
            "14",
        )["id"]
        self.model = Model(self.timezone, self.rate)
        self.clients: list[int] = []
        self.resellers: list[int] = []
        self.serial = 0
        self.add_client()

    def ctl(self, *args: str) -> Any:
        result = billingctl(self.daemon.socket, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return json.loads(result.stdout) if result.stdout.strip() else None

    def move(self, day: dt.date, hour: int) -> list[str]:
        """Move the test clock; with ``invoicing: auto`` the daemon performs the nightly
        run (02:00) of each day passed, at its own instant, before it replies (R-RUN-15):
        the model plans each of them and each one's invoices are those issued that day."""
        old, new = self.instant, local(day, self.timezone, hour)
        before = {i.id for i in Invoice.select(Invoice.id)}
        self.ctl("clock", "set", new.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.instant, previous, self.today = new, self.today, day
        if not self.auto or not self.model.parties:
            return []
        self.settle()
        issued = {i.id: i.issue_date for i in Invoice.select() if i.id not in before}
        problems = []
        fire = previous
        while fire <= day:
            if old < local(fire, self.timezone, 2) <= new:
                plan = self.model.plan(fire)
                mine = {i for i, on in issued.items() if on == fire}
                found, matched = match_run(self.model, plan, mine, fire)
                problems += [f"nightly run of {fire}: {p}" for p in found]
                for expected, invoice in matched:
                    self.model.commit(invoice, expected.items, expected, fire)
                issued = {i: on for i, on in issued.items() if i not in mine}
            fire += dt.timedelta(days=1)
        return problems + [
            f"invoice {i} issued on {on} by no nightly run" for i, on in issued.items()
        ]

    def settle(self, run_after: int = 0, client: int | None = None) -> None:
        """Wait until the daemon's runs are done (and, with ``client``, its creation run)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = Run.select().where(Run.id > run_after)
            waiting = runs.where(Run.status == "running").exists()
            asked = (
                client is None
                or runs.where((Run.trigger == "contract") & (Run.client_id == client)).exists()
            )
            if asked and not waiting:
                return
            time.sleep(0.05)
        raise AssertionError(f"the daemon's runs did not finish:\n{self.daemon.log_text()}")

    def next(self) -> int:
        self.serial += 1
        return self.serial

    def owners(self) -> list[tuple[str, int]]:
        return [("client", c) for c in self.clients] + [("reseller", r) for r in self.resellers]

    # ------------------------------------------------------------ operations

    def add_client(self) -> None:
        days = self.rng.choice(("", "", "1", "1,15", "28"))
        reseller = self.rng.choice([None, *self.resellers])
        args = [
            "client",
            "add",
            "--name",
            f"Client {self.next()}",
            "--enterprise",
            str(self.enterprise),
        ]
        args += ["--invoice-days", days] if days else []
        args += ["--reseller", str(reseller)] if reseller else []
        client = self.ctl(*args)["id"]
        group = BillGroup.get((BillGroup.client == client) & BillGroup.is_default).id
        days_tuple = tuple(int(d) for d in days.split(",") if d)
        self.model.add(Party("client", client, days_tuple, self.rate, reseller, group))
        self.model.add(Group(group))
        self.clients.append(client)

    def add_reseller(self) -> None:
        days = self.rng.choice(("", "1"))
        args = [
            "reseller",
            "add",
            "--name",
            f"Reseller {self.next()}",
            "--enterprise",
            str(self.enterprise),
        ] + (["--invoice-days", days] if days else [])
        reseller = self.ctl(*args)["id"]
        self.model.add(Party("reseller", reseller, (1,) if days else (), self.rate))
        self.resellers.append(reseller)

    def add_contract(self) -> list[str]:
        owner = self.rng.choice(self.owners())
        party = self.model.parties[owner]
        cycle = self.rng.choice(("month", "month", "week", "year"))
        timing = self.rng.choice(("advance", "arrears"))
        origin = self.rng.choice(("standard", "standard", "imported", "manual"))
        if origin == "manual" and (owner[0] != "client" or party.days or cycle == "week"):
            origin = "standard"
        timing = "advance" if origin == "manual" else timing
        start = self.today + dt.timedelta(days=self.rng.choice((0, 0, -40, -75, 10)))
        if self.rng.random() < 0.3:
            first = start.replace(day=1)
            start = first.replace(day=min(31, (add_months(first, 1) - first).days))
        end = (
            start + dt.timedelta(days=self.rng.randrange(20, 200))
            if self.rng.random() < 0.3
            else None
        )
        price = Decimal(self.rng.randrange(100, 50_000)) / 100
        interval = self.rng.choice((1, 1, 2))
        options = {
            "--description": f"Service {self.next()}",
            "--price": str(price),
            "--cycle": cycle,
            "--start": start.isoformat(),
            "--timing": timing,
            "--origin": origin,
            "--interval": str(interval),
        }
        if end is not None:
            options["--end"] = end.isoformat()
        last_run = Run.select(peewee.fn.MAX(Run.id)).scalar() or 0
        before = {i.id for i in Invoice.select(Invoice.id)}
        args = [f"--{owner[0]}", str(owner[1]), *itertools.chain(*options.items())]
        contract = self.ctl("contract", "add", *args)["id"]
        self.model.add(
            Contract(
                contract,
                owner,
                party.default_group,
                price,
                party.rate,
                cycle,
                interval,
                start,
                start,
                end,
                timing,
                origin,
                self.today,
            )
        )
        if not self.auto or owner[0] != "client":
            return []
        self.settle(last_run, owner[1])  # billed at creation [R-RUN-5]
        new = {i.id for i in Invoice.select(Invoice.id)} - before
        found, matched = match_run(
            self.model, self.model.plan(self.today, only=owner), new, self.today
        )
        for expected, invoice in matched:
            self.model.commit(invoice, expected.items, expected, self.today)
        return [f"billing at creation: {p}" for p in found]

    def import_usage(self) -> None:
        client = self.rng.choice(self.clients)
        lines = ["client,occurred_at,destination_group,quantity,unit,amount,external_id"]
        added = []
        for _ in range(self.rng.randrange(1, 4)):
            day = self.today - dt.timedelta(days=self.rng.randrange(0, 60))
            at = local(day, self.timezone, *self.rng.choice(((0, 0, 0), (12, 0, 0), (23, 59, 59))))
            amount = Decimal(self.rng.randrange(1, 2_000)) / 100
            external = f"u{self.next()}"
            lines.append(f"{client},{at:%Y-%m-%dT%H:%M:%SZ},Mobile DE,60,s,{amount},{external}")
            added.append((external, at, amount))
        path = self.folder / f"usage-{self.serial}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.ctl("usage", "import", str(path))
        for external, at, amount in added:
            record = UsageRecord.get(
                (UsageRecord.client == client) & (UsageRecord.external_id == external)
            )
            self.model.add_usage(record.id, client, at.replace(tzinfo=None), amount, None)

    def add_charge(self) -> None:
        client = self.rng.choice(self.clients)
        amount = Decimal(self.rng.randrange(1, 20_000)) / 100
        schedule = self.rng.choice((None, None, -10, 5, 30))
        day = self.today + dt.timedelta(days=schedule) if schedule is not None else None
        args = [
            "charge",
            "add",
            "--client",
            str(client),
            "--description",
            f"Charge {self.next()}",
            "--amount",
            str(amount),
        ]
        charge = self.ctl(*args, *(["--date", day.isoformat()] if day else []))["id"]
        party = self.model.client(client)
        self.model.add(
            Charge(
                charge,
                client,
                amount,
                day or self.today,
                day is not None,
                party.default_group,
                party.rate,
            )
        )

    def run(self) -> list[str]:
        """Time passes (auto: the nightly runs bill), then an operator's run, after a
        dry run that must project exactly what it issues [R-RUN-16]."""
        days = self.rng.choice((0, 1, 3, 14, 31, 45, 90))
        problems = (
            self.move(self.today + dt.timedelta(days=days), 9 if self.auto else 2) if days else []
        )
        if self.auto and self.rng.random() < 0.6:
            return problems
        plan = self.model.plan(self.today)
        before = {i.id for i in Invoice.select(Invoice.id)}
        previews = self.ctl("run", "--dry-run")["invoices"]
        self.ctl("run")
        new = {i.id for i in Invoice.select(Invoice.id)} - before
        found, matched = match_run(self.model, plan, new, self.today)
        for expected, invoice in matched:
            self.model.commit(invoice, expected.items, expected, self.today)
        return problems + dry_run_problems(previews, new) + found

    def invoice_period(self) -> list[str]:
        if self.today.day > 28:
            return []
        owner = self.rng.choice(self.owners())
        start = add_months(self.today.replace(day=1), -self.rng.randrange(0, 3))
        end = add_months(start, 1) - dt.timedelta(days=1)
        must, may = self.model.period_items(owner, start, end, self.today)
        before = {i.id for i in Invoice.select(Invoice.id)}
        result = billingctl(
            self.daemon.socket,
            "invoice",
            "period",
            f"--{owner[0]}",
            str(owner[1]),
            "--from",
            start.isoformat(),
            "--to",
            end.isoformat(),
        )
        if result.returncode != 0:
            return [f"invoice period {start}..{end} refused: {result.stderr}"] if must else []
        if not must and not may:
            return [f"invoice period {start}..{end} of {owner} issued with nothing to bill"]
        new = sorted({i.id for i in Invoice.select(Invoice.id)} - before)
        problems, billed = operator_problems(self.model, new, must, may, self.today)
        for invoice, items in billed:
            self.model.commit(invoice, items, issued=self.today)
        return problems

    def pay_or_credit(self) -> None:
        open_ = list(Invoice.select().where(Invoice.status.in_(("open", "partial"))))
        if not open_:
            return
        invoice = self.rng.choice(open_)
        amount = max(Decimal("0.01"), (invoice.balance / 2).quantize(Decimal("0.01")))
        if invoice.client_id and self.rng.random() < 0.6:
            self.ctl(
                "payment",
                "record",
                "--client",
                str(invoice.client_id),
                "--amount",
                str(amount),
                "--invoice",
                invoice.number,
            )
        else:
            self.ctl("credit-note", "issue", invoice.number, "--amount", str(amount))

    def restart(self) -> None:
        """Stop the daemon and start it again on the same database: the test clock and
        everything billed survive, nothing is billed twice or skipped [R-RUN-9]."""
        self.daemon.stop()
        self.daemon = RunningDaemon(self.folder, self.url, self.config)

    def step(self) -> list[str]:
        operation = self.rng.choice(
            (
                self.restart,
                self.add_client,
                self.add_reseller,
                self.add_contract,
                self.add_contract,
                self.import_usage,
                self.add_charge,
                self.run,
                self.run,
                self.invoice_period,
                self.pay_or_credit,
            )
        )
        problems = operation() or []
        problems += state_problems(self.model)
        return [f"{operation.__name__} on {self.today}: {p}" for p in problems] + [
            f"after {operation.__name__}: {p}" for p in invariant_problems()
        ]


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "invoicing"), SEEDS)
def test_oracle_through_daemon_and_socket(short_dir: Path, seed: int, invoicing: str) -> None:
    driver = Driver(short_dir, seed, invoicing)
    try:
        for number in range(STEPS):
            problems = driver.step()
            assert not problems, report(f"seed {seed} ({invoicing}), step {number}:", problems)
    finally:
        driver.database.close()
        driver.daemon.stop()
