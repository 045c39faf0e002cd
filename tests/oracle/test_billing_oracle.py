"""The billing oracle against the real services (issue 9): random operator sequences.

Each hypothesis example is a fresh database with one enterprise (a random timezone,
tax rate and reset policy). The steps create clients (with and without invoice days,
some of a reseller), resellers, bill groups, contracts of every cycle, interval,
timing and origin (month-end anchors, starts in the past, end dates, cancellations),
usage (in period, late, at 23:59:59 local), pending charges, price overrides; they
move the clock, run billing (sometimes twice on one day), invoice periods and
amounts by hand, void, reissue, record payments and issue credit notes. The model
(``model.py``) is fed the same operations. After every step (``checks.py``):

- (a) every item the model has billed is billed exactly there, and nothing else;
  each invoice has the model's owner, bill group, billing date, lines and totals;
- (b) before each run, a dry run projects exactly what the run then issues;
- (c) invoice and credit-note numbers are gapless and follow issue dates;
- (d) R-LED-1 holds for every client and reseller.

Run long: ``python -m pytest tests/oracle --hypothesis-profile=soak``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import peewee
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from billingd.db.connection import open_database
from billingd.db.migrations import SCHEMA_VERSION, current_version, migrate
from billingd.db.models import (
    ALL_MODELS,
    Allocation,
    BillGroup,
    CreditNote,
    Invoice,
    InvoiceLine,
    LedgerEntry,
    Payment,
    RunError,
    SchemaVersion,
    UsageRecord,
)
from billingd.errors import BillingError
from billingd.services import (
    charges,
    contracts,
    credit_notes,
    invoice_actions,
    invoicing,
    parties,
    payments,
    runs,
    usage,
)
from billingd.services.context import ServiceContext

from .checks import (
    dry_run_problems,
    invariant_problems,
    match_run,
    operator_problems,
    report,
    state_problems,
    stored_billing,
)
from .clock import OracleClock
from .model import Charge, Contract, Group, Model, Party, add_months

ZONES = ("Europe/Berlin", "America/New_York", "Pacific/Auckland", "UTC", "Pacific/Kiritimati")
RATES = (Decimal("19"), Decimal("7"), Decimal("0"))
INVOICE_DAYS = st.sampled_from(("", "", "", "1", "1,15", "15,31", "31", "5,20", "28"))
TIMES = ((0, 0, 0), (12, 0, 0), (23, 59, 59))
CENT = Decimal("0.01")


def fresh_database(base_url: str, folder: Path, serial: int) -> peewee.Database:
    """An empty, migrated database for one example: a new SQLite file, or PostgreSQL
    emptied (TRUNCATE, like tests/conftest.py)."""
    if base_url.startswith("sqlite"):
        database = open_database(f"sqlite:///{folder / f'oracle-{serial}.db'}")
        migrate(database)
        return database
    database = open_database(base_url)
    if current_version(database) is None:
        migrate(database)
    else:
        tables = ", ".join(m._meta.table_name for m in ALL_MODELS)
        database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        SchemaVersion.create(version=SCHEMA_VERSION)
    return database


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: n * CENT)


def parse_days(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(d) for d in text.split(",") if d.strip()}))


def snapshot() -> tuple[Any, ...]:
    """What a refused operation must leave alone."""
    counts = tuple(
        m.select().count()
        for m in (Invoice, InvoiceLine, LedgerEntry, Payment, Allocation, CreditNote, UsageRecord)
    )
    invoices = tuple(Invoice.select(Invoice.id, Invoice.status, Invoice.balance).tuples())
    return counts, invoices, tuple(sorted(stored_billing().items(), key=str))


class BillingMachine(RuleBasedStateMachine):
    base_url: ClassVar[str]
    folder: ClassVar[Path]
    plugins: ClassVar[Any]
    serial: ClassVar[int] = 0  # examples (generated sequences) so far
    steps: ClassVar[int] = 0

    # ------------------------------------------------------------ set-up and helpers

    @initialize(
        timezone=st.sampled_from(ZONES),
        start=st.dates(dt.date(2030, 1, 1), dt.date(2031, 12, 31)),
        reset=st.sampled_from(("never", "yearly")),
        rate=st.sampled_from(RATES),
        days=INVOICE_DAYS,
    )
    def setup(self, timezone: str, start: dt.date, reset: str, rate: Decimal, days: str) -> None:
        BillingMachine.serial += 1
        self.database = fresh_database(self.base_url, self.folder, self.serial)
        self.zone = ZoneInfo(timezone)
        self.clock = OracleClock(self.at(start, 9))
        self.ctx = ServiceContext(
            actor="oracle",
            clock=self.clock,
            plugins=self.plugins,
            data_dir=self.folder / f"data-{self.serial}",
        )
        self.enterprise = parties.add_enterprise(
            self.ctx,
            name="Oracle GmbH",
            currency="EUR",
            timezone=timezone,
            tax_rate=rate,
            invoice_pattern="%num%/%year%",
            invoice_start=100001,
            invoice_reset=reset,
            payment_terms=14,
        )
        self.model = Model(timezone, rate)
        self.clients: list[int] = []
        self.resellers: list[int] = []
        self.groups: dict[int, list[int]] = {}
        self.cancelled: set[int] = set()
        self.counter = itertools.count(1)
        self.changed = True  # something billable happened since the last run
        self.last_run: dt.date | None = None
        self._add_client(days, None, None)

    def teardown(self) -> None:
        if hasattr(self, "database"):
            self.database.close()

    def at(self, day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
        local = dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=self.zone)
        return local.astimezone(dt.UTC)

    @property
    def today(self) -> dt.date:
        return self.clock.now().astimezone(self.zone).date()

    def attempt(self, expect: bool | None, action: Any, why: str = "") -> Any:
        """Run an operation; ``expect`` says whether the rules allow it (None: either).
        A refusal must be a BillingError that changed nothing."""
        before = snapshot()
        try:
            result = action()
        except BillingError as exc:
            event(f"refused: {why.split(' ')[0] or type(exc).__name__}")
            assert expect is not True, f"refused although allowed ({why}): {exc.message}"
            assert snapshot() == before, f"the refused operation changed something: {exc}"
            return None
        assert expect is not False, f"allowed although the rules refuse it: {why}"
        return result

    def owners(self) -> list[tuple[str, int]]:
        return [("client", c) for c in self.clients] + [("reseller", r) for r in self.resellers]

    def enterprise_invoices(self) -> list[Invoice]:
        return list(
            Invoice.select().where(Invoice.enterprise == self.enterprise).order_by(Invoice.id)
        )

    def new_invoice_ids(self, before: set[int]) -> set[int]:
        return {i.id for i in Invoice.select(Invoice.id)} - before

    # ------------------------------------------------------------ parties

    def _add_client(self, days: str, reseller: int | None, rate: Decimal | None) -> None:
        n = next(self.counter)
        client = parties.add_client(
            self.ctx,
            name=f"Client {n}",
            enterprise_id=self.enterprise.id,
            invoice_days=days or None,
            reseller_id=reseller,
            tax_rate=rate,
        )
        group = BillGroup.get((BillGroup.client == client) & BillGroup.is_default)
        own_rate = rate if rate is not None else self.model.rate
        self.model.add(Party("client", client.id, parse_days(days), own_rate, reseller, group.id))
        self.model.add(Group(group.id))
        self.clients.append(client.id)
        self.groups[client.id] = [group.id]

    @rule(data=st.data(), days=INVOICE_DAYS, rate=st.none() | st.sampled_from(RATES))
    def add_client(self, data: st.DataObject, days: str, rate: Decimal | None) -> None:
        reseller = None
        if self.resellers and data.draw(st.booleans(), label="of a reseller"):
            reseller = data.draw(st.sampled_from(self.resellers), label="reseller")
        self._add_client(days, reseller, rate)

    @rule(days=INVOICE_DAYS)
    def add_reseller(self, days: str) -> None:
        n = next(self.counter)
        reseller = parties.add_reseller(
            self.ctx, name=f"Reseller {n}", enterprise_id=self.enterprise.id, invoice_days=days
        )
        self.model.add(Party("reseller", reseller.id, parse_days(days), self.model.rate))
        self.resellers.append(reseller.id)

    @rule(data=st.data(), auto=st.booleans(), active=st.booleans())
    def add_bill_group(self, data: st.DataObject, auto: bool, active: bool) -> None:
        client = data.draw(st.sampled_from(self.clients), label="client")
        group = parties.add_bill_group(
            self.ctx,
            client_id=client,
            name=f"Group {next(self.counter)}",
            invoicing="auto" if auto else "manual",
            status="active" if active else "cancelled",
        )
        self.model.add(Group(group.id, auto, active))
        self.groups[client].append(group.id)
        self.changed = True

    @rule(data=st.data(), auto=st.booleans(), active=st.booleans())
    def update_bill_group(self, data: st.DataObject, auto: bool, active: bool) -> None:
        group = data.draw(st.sampled_from(sorted(self.model.groups)), label="bill group")
        parties.update_bill_group(
            self.ctx,
            group,
            invoicing="auto" if auto else "manual",
            status="active" if active else "cancelled",
        )
        self.model.groups[group].auto, self.model.groups[group].active = auto, active
        self.changed = True

    # ------------------------------------------------------------ billable things

    @rule(
        data=st.data(),
        cycle=st.sampled_from(("month", "month", "week", "year", "day")),
        interval=st.integers(1, 3),
        timing=st.sampled_from(("advance", "arrears")),
        origin=st.sampled_from(("standard", "standard", "imported", "manual")),
        offset=st.just(0) | st.integers(-120, 20),
        month_end=st.none() | st.sampled_from((29, 30, 31)),
        anchor_back=st.none() | st.integers(1, 40),
        length=st.none() | st.integers(0, 200),
        price=cents(1, 99_999),
        quantity=st.integers(1, 3),
        rate=st.none() | st.sampled_from(RATES),
    )
    def add_contract(
        self,
        data: st.DataObject,
        cycle: str,
        interval: int,
        timing: str,
        origin: str,
        offset: int,
        month_end: int | None,
        anchor_back: int | None,
        length: int | None,
        price: Decimal,
        quantity: int,
        rate: Decimal | None,
    ) -> None:
        owner = data.draw(st.sampled_from(self.owners()), label="owner")
        party = self.model.parties[owner]
        if origin == "manual" and (
            party.kind != "client" or party.days or cycle in ("day", "week")
        ):
            origin = "standard"  # manual orders: clients billed per cycle, monthly or yearly
        if origin == "manual":
            timing = "advance"
        start = self.today + dt.timedelta(days=offset)
        if month_end is not None:  # a month-end anchor: the 29th, 30th or 31st (or the last)
            first = start.replace(day=1)
            start = first.replace(day=min(month_end, (add_months(first, 1) - first).days))
        anchor = start - dt.timedelta(days=anchor_back) if anchor_back else start
        end = start + dt.timedelta(days=length) if length is not None else None
        group = None
        if owner[0] == "client":
            group = data.draw(st.sampled_from(self.groups[owner[1]]), label="bill group")
        contract = contracts.add_contract(
            self.ctx,
            description=f"Service {next(self.counter)}",
            unit_price=price,
            cycle=cycle,
            start_date=start,
            quantity=Decimal(quantity),
            tax_rate=rate,
            interval=interval,
            anchor_date=anchor,
            end_date=end,
            timing=timing,
            origin=origin,
            bill_group_id=group,
            **{f"{owner[0]}_id": owner[1]},
        )
        self.model.add(
            Contract(
                contract.id,
                owner,
                group,
                price * quantity,
                rate if rate is not None else party.rate,
                cycle,
                interval,
                anchor,
                start,
                end,
                timing,
                origin,
                self.today,
            )
        )
        self.changed = True

    def open_contracts(self) -> list[int]:
        return sorted(set(self.model.contracts) - self.cancelled)

    @precondition(lambda self: self.open_contracts())
    @rule(data=st.data(), price=cents(1, 99_999))
    def update_contract_price(self, data: st.DataObject, price: Decimal) -> None:
        """A new price applies to the cycles not billed yet; invoices issued keep theirs."""
        contract = self.model.contracts[data.draw(st.sampled_from(self.open_contracts()))]
        updated = contracts.update_contract(self.ctx, contract.id, unit_price=price)
        contract.full = price * updated.quantity
        self.changed = True

    @precondition(lambda self: self.open_contracts())
    @rule(data=st.data(), days=st.integers(0, 60))
    def cancel_contract(self, data: st.DataObject, days: int) -> None:
        contract = self.model.contracts[data.draw(st.sampled_from(self.open_contracts()))]
        end = max(self.today + dt.timedelta(days=days), contract.start)
        if contract.end is not None:
            end = min(end, contract.end)
        contracts.cancel_contract(self.ctx, contract.id, end)
        contract.end = end
        self.cancelled.add(contract.id)
        self.changed = True

    @rule(
        data=st.data(),
        records=st.lists(
            st.tuples(
                st.integers(-70, 1),
                st.sampled_from(TIMES),
                cents(1, 2_000),
                st.sampled_from(("Mobile DE", "Fixed DE", "Intl")),
                st.booleans(),
            ),
            min_size=1,
            max_size=4,
        ),
    )
    def import_usage(self, data: st.DataObject, records: list) -> None:
        client = data.draw(st.sampled_from(self.clients), label="client")
        mine = sorted(c.id for c in self.model.contracts.values() if c.owner == ("client", client))
        rows, added = [], []
        for line, (offset, (h, m, s), amount, group, named) in enumerate(records, start=1):
            instant = self.at(self.today + dt.timedelta(days=offset), h, m, s)
            contract = (
                data.draw(st.sampled_from(mine), label="contract") if named and mine else None
            )
            external = f"u{next(self.counter)}"
            rows.append(
                (
                    line,
                    {
                        "client": client,
                        "occurred_at": instant.isoformat().replace("+00:00", "Z"),
                        "destination_group": group,
                        "quantity": "60",
                        "unit": "s",
                        "amount": str(amount),
                        "external_id": external,
                        **({"contract": contract} if contract else {}),
                    },
                )
            )
            added.append((external, instant, amount, contract))
        self.attempt(True, lambda: usage.import_usage(self.ctx, rows))
        for external, instant, amount, contract in added:
            record = UsageRecord.get(
                (UsageRecord.client == client) & (UsageRecord.external_id == external)
            )
            self.model.add_usage(record.id, client, instant.replace(tzinfo=None), amount, contract)
        self.changed = True

    @rule(data=st.data(), amount=cents(1, 50_000), schedule=st.none() | st.integers(-20, 40))
    def add_charge(self, data: st.DataObject, amount: Decimal, schedule: int | None) -> None:
        client = data.draw(st.sampled_from(self.clients), label="client")
        mine = sorted(c.id for c in self.model.contracts.values() if c.owner == ("client", client))
        contract = data.draw(st.none() | st.sampled_from(mine), label="contract") if mine else None
        day = self.today + dt.timedelta(days=schedule) if schedule is not None else None
        charge = charges.add_charge(
            self.ctx,
            client_id=client,
            description=f"Charge {next(self.counter)}",
            amount=amount,
            contract_id=contract,
            schedule_date=day,
        )
        party = self.model.client(client)
        linked = self.model.contracts[contract] if contract else None
        self.model.add(
            Charge(
                charge.id,
                client,
                amount,
                day or self.today,
                day is not None,
                linked.group if linked else party.default_group,
                linked.rate if linked else party.rate,
            )
        )
        self.changed = True

    def pending_charges(self) -> list[int]:
        return [c.id for c in self.model.charges.values() if not c.cancelled]

    @precondition(lambda self: self.pending_charges())
    @rule(data=st.data())
    def cancel_charge(self, data: st.DataObject) -> None:
        charge = data.draw(st.sampled_from(self.pending_charges()), label="charge")
        unbilled = ("charge", charge) not in self.model.billed
        if self.attempt(unbilled, lambda: charges.cancel_charge(self.ctx, charge)) is not None:
            self.model.charges[charge].cancelled = True

    @precondition(lambda self: self.model.contracts)
    @rule(
        data=st.data(), delta=st.just(0) | st.integers(-5_000, 5_000), what_next_bills=st.booleans()
    )
    def set_price_override(self, data: st.DataObject, delta: int, what_next_bills: bool) -> None:
        """A final amount: the base ± delta, or exactly what the next cycle bills (a
        pro-rata cycle then needs no line, but the override is used up all the same)."""
        contract = self.model.contracts[data.draw(st.sampled_from(sorted(self.model.contracts)))]
        final = contract.full + delta * CENT
        if what_next_bills:
            unbilled = (
                net
                for s, _, net in contract.cycles(self.today + dt.timedelta(days=400))
                if ("cycle", contract.id, s) not in self.model.billed
            )
            final = next(unbilled, final)
        result = self.attempt(
            final >= 0,
            lambda: charges.set_price_override(
                self.ctx, contract_id=contract.id, final_amount=final
            ),
        )
        if final >= 0:
            self.model.set_override(contract.id, result.id if result else None, final)

    # ------------------------------------------------------------ time and runs

    @rule(days=st.integers(0, 15), hour=st.integers(3, 23))
    def clock_forward(self, days: int, hour: int) -> None:
        """Time passes without a run (operations later that day, or days later)."""
        target = self.at(self.today + dt.timedelta(days=days), hour)
        if target > self.clock.now():
            self.clock.set(target)

    @rule(days=st.just(0) | st.integers(1, 10) | st.integers(11, 92))
    def run(self, days: int) -> None:
        """A run as of today (the nightly run at 02:00 when the day changes); with
        ``days`` 0, once more on the same day."""
        if days:
            self.clock.set(self.at(self.today + dt.timedelta(days=days), 2))
        today = self.today
        quiet = today == self.last_run and not self.changed
        plan = self.model.plan(today)
        before = {i.id for i in Invoice.select(Invoice.id)}
        previews = list(runs.iter_dry_run(today, today=self.ctx.today))
        assert self.new_invoice_ids(before) == set(), "the dry run wrote an invoice"
        run = runs.run_all(self.ctx, as_of=today, limit=100_000)
        new = self.new_invoice_ids(before)
        problems = [
            f"run error: {e.message}" for e in RunError.select().where(RunError.run == run.id)
        ]
        problems += [f"the run parked {run.parked} client(s)"] if run.parked else []
        problems += dry_run_problems(previews, new)
        found, matched = match_run(self.model, plan, new, today)
        problems += found
        if quiet and new:
            problems.append(f"a second run on {today} with nothing new issued {sorted(new)}")
        for expected, invoice in matched:
            self.model.commit(invoice, expected.items, expected, today)
            if expected.billing_date < today:
                event("run: a backlog invoice")
            if any(i.key[0] == "override" for i in expected.items):
                event("run: a price override billed")
        event(f"run: {min(len(new), 5)}{'+' if len(new) >= 5 else ''} invoices")
        self.changed, self.last_run = False, today
        assert not problems, report(f"run as of {today}:", problems)

    # ------------------------------------------------------------ operators' invoices

    @precondition(lambda self: self.today.day <= 28)
    @rule(data=st.data(), how=st.sampled_from(("month", "span", "manual order")))
    def invoice_period(self, data: st.DataObject, how: str) -> None:
        """``invoice period``: a month, any span, or the first invoice of a manual order
        (a period around its start) [R-INV-1, R-RUN-6]."""
        waiting = [
            c for c in self.model.contracts.values() if c.origin == "manual" and not c.first_invoice
        ]
        if how == "manual order" and waiting:
            contract = data.draw(st.sampled_from(waiting), label="manual order")
            owner = contract.owner
            start = contract.start - dt.timedelta(days=data.draw(st.integers(0, 3)))
            end = contract.start + dt.timedelta(days=data.draw(st.integers(0, 40)))
        elif how == "month":
            owner = data.draw(st.sampled_from(self.owners()), label="owner")
            start = add_months(self.today.replace(day=1), -data.draw(st.integers(0, 3)))
            end = add_months(start, 1) - dt.timedelta(days=1)
        else:
            owner = data.draw(st.sampled_from(self.owners()), label="owner")
            start = self.today - dt.timedelta(days=data.draw(st.integers(0, 90)))
            end = start + dt.timedelta(days=data.draw(st.integers(0, 45)))
        group = None
        if owner[0] == "client" and data.draw(st.booleans(), label="one bill group"):
            group = data.draw(st.sampled_from(self.groups[owner[1]]), label="bill group")
        must, may = self.model.period_items(owner, start, end, self.today)
        if group is not None:
            must = {k: v for k, v in must.items() if v.group == group}
            may = {k: v for k, v in may.items() if v.group == group}
        expect = True if must else (False if not may else None)
        result = self.attempt(
            expect,
            lambda: invoicing.invoice_for_period(
                self.ctx,
                period_start=start,
                period_end=end,
                bill_group_id=group,
                **{f"{owner[0]}_id": owner[1]},
            ),
            why=f"period {start}..{end} of {owner}",
        )
        if result is not None:
            ids = [i.id for i in result.invoices] or [result.invoice.id]
            problems, billed = operator_problems(self.model, ids, must, may, self.today)
            for invoice, items in billed:
                self.model.commit(invoice, items, issued=self.today)
            event(f"invoice period: {len(ids)} invoice(s)")
            if any(
                c in waiting for c in (self.model.contracts[k[1]] for k in must if k[0] == "cycle")
            ):
                event("invoice period: a manual order's first invoice")
            assert not problems, report(f"invoice period {start}..{end} of {owner}:", problems)

    @rule(data=st.data(), amount=cents(1, 100_000), back=st.sampled_from((0, 0, 0, 1, 5, 40)))
    def invoice_amount(self, data: st.DataObject, amount: Decimal, back: int) -> None:
        owner = data.draw(st.sampled_from(self.owners()), label="owner")
        issue = self.today - dt.timedelta(days=back)
        same = Invoice.select().where(
            (Invoice.enterprise == self.enterprise) & Invoice.number.is_null(False)
        )
        if self.enterprise.invoice_reset == "yearly":
            same = same.where(Invoice.issue_date.year == issue.year)
        latest = max((i.issue_date for i in same), default=None)
        self.attempt(
            latest is None or issue >= latest,
            lambda: invoicing.invoice_for_amount(
                self.ctx, issue_date=issue, amount=amount, **{f"{owner[0]}_id": owner[1]}
            ),
            why=f"issue date {issue}, latest {latest} (R-NUM-6)",
        )

    def voidable(self, invoice: Invoice) -> bool:
        return (
            invoice.status not in ("void", "draft")
            and not invoice.allocations.exists()
            and not invoice.credit_notes.exists()
        )

    @precondition(lambda self: self.enterprise_invoices())
    @rule(data=st.data())
    def void_invoice(self, data: st.DataObject) -> None:
        invoice = data.draw(st.sampled_from(self.enterprise_invoices()), label="invoice")
        self.attempt(
            self.voidable(invoice), lambda: invoice_actions.void_invoice(self.ctx, invoice.id)
        )

    @precondition(lambda self: self.enterprise_invoices())
    @rule(data=st.data())
    def reissue_invoice(self, data: st.DataObject) -> None:
        old = data.draw(st.sampled_from(self.enterprise_invoices()), label="invoice")
        if not self.voidable(old):
            self.attempt(False, lambda: invoice_actions.reissue_invoice(self.ctx, old.id))
            return
        released = {i.key: i for i in self.model.release(old.id)}
        must, may = {}, {}
        if old.period_start is not None:
            owner = ("client", old.client_id) if old.client_id else ("reseller", old.reseller_id)
            must, may = self.model.period_items(owner, old.period_start, old.period_end, self.today)
            group = old.bill_group_id
            may = {k: v for k, v in {**may, **must}.items() if v.group == group}
            must = {k: v for k, v in must.items() if k in released}
            may.update({k: v for k, v in released.items() if k not in must and k not in may})
        expect = True if must or old.period_start is None else (None if may else False)
        new = self.attempt(expect, lambda: invoice_actions.reissue_invoice(self.ctx, old.id))
        if new is None:
            self.model.commit(old.id, list(released.values()))
            return
        problems = [] if new.replaces_id == old.id else [f"{new.id} does not record {old.id}"]
        if old.period_start is None:
            held = [k for k, v in stored_billing().items() if v == new.id]
            problems += [f"the copy of {old.id} bills {held}"] if held else []
        else:
            found, billed = operator_problems(self.model, [new.id], must, may, self.today)
            problems += found
            self.model.commit(new.id, billed[0][1], issued=self.today)
            event("reissue: a period invoice")
        self.changed = True
        assert not problems, report(f"reissue of {old.id}:", problems)

    # ------------------------------------------------------------ money

    @rule(data=st.data(), amount=cents(1, 200_000), targeted=st.booleans())
    def record_payment(self, data: st.DataObject, amount: Decimal, targeted: bool) -> None:
        client = data.draw(st.sampled_from(self.clients), label="client")
        mine = list(Invoice.select().where(Invoice.client == client).order_by(Invoice.id))
        target = data.draw(st.sampled_from(mine), label="target") if targeted and mine else None
        self.attempt(
            target is None or target.status not in ("void", "draft"),
            lambda: payments.record_payment(
                self.ctx, client_id=client, amount=amount, invoice=target.id if target else None
            ),
        )

    @precondition(lambda self: self.enterprise_invoices())
    @rule(data=st.data(), mode=st.sampled_from(("balance", "part", "above")))
    def issue_credit_note(self, data: st.DataObject, mode: str) -> None:
        invoice = data.draw(st.sampled_from(self.enterprise_invoices()), label="invoice")
        amount = {
            "balance": invoice.balance,
            "part": max(CENT, (invoice.balance / 3).quantize(CENT)),
            "above": invoice.balance + CENT,
        }[mode]
        allowed = invoice.status not in ("void", "draft") and 0 < amount <= invoice.balance
        self.attempt(
            allowed,
            lambda: credit_notes.issue_credit_note(self.ctx, invoice=invoice.id, amount=amount),
            why=f"credit {amount} of {invoice.balance}",
        )

    # ------------------------------------------------------------ after every step

    @invariant()
    def holds(self) -> None:
        if not hasattr(self, "model"):
            return
        BillingMachine.steps += 1
        problems = state_problems(self.model) + invariant_problems()
        assert not problems, report(f"as of {self.clock.now().astimezone(self.zone)}:", problems)


def run_machine(base_url: str, folder: Path, plugins: Any, chosen: settings) -> None:
    BillingMachine.base_url, BillingMachine.folder, BillingMachine.plugins = (
        base_url,
        folder,
        plugins,
    )
    BillingMachine.serial = BillingMachine.steps = 0
    run_state_machine_as_test(BillingMachine, settings=chosen)
    print(
        f"billing oracle: {BillingMachine.serial} sequences, {BillingMachine.steps} checked states"
    )


def test_oracle_services_sqlite(
    tmp_path: Path, loaded_plugins: Any, oracle_settings: settings
) -> None:
    run_machine("sqlite", tmp_path, loaded_plugins, oracle_settings)


@pytest.mark.slow
def test_oracle_services_postgresql(
    pg_url: str, tmp_path: Path, loaded_plugins: Any, oracle_settings: settings
) -> None:
    fewer = settings(oracle_settings, max_examples=max(3, oracle_settings.max_examples // 5))
    run_machine(pg_url, tmp_path, loaded_plugins, fewer)
