"""Ledger properties under random sequences of financial actions (hypothesis, stateful).

Each hypothesis example is a new client (of a EUR, JPY or BHD enterprise, so minor
units 2, 0 and 3 all occur) with a few contracts; the steps issue invoices for an
amount or for a period, import usage, record payments with and without a target
invoice, issue credit notes, void and reissue invoices. After every step:

- R-LED-1  ledger balance = Σ open balances − unapplied credit; and it equals the
           independent tally of what was issued, voided, paid and credited.
- R-PAY-2  Σ allocations of a payment + its unapplied rest == its amount; a client
           with unapplied credit has no open invoice (credit is applied at once).
- R-CN-1   credit notes only up to the balance; the balance never goes negative.
- R-MONEY-2 every amount is in the currency's minor unit; total = Σ line nets +
           Σ line taxes exactly; for period invoices tax is computed once per rate.
- R-INV-7/8 balance = total − allocations − credit notes for non-void invoices;
           the status follows the balance; a void invoice has neither.
- R-NUM-3  invoice and credit note numbers stay gapless and unique.
- R-NUM-6  an issue date before the latest one of the invoice sequence is refused.

Operations the rules refuse (a credit note above the balance, voiding a paid
invoice, paying a void one, …) must raise a BillingError and change nothing.
One SQLite database serves the whole test; each example's client has an enterprise
(and so number sequences) of its own; invariants are checked per client.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from billingd.clock import TestClock
from billingd.db.connection import open_database
from billingd.db.migrations import migrate
from billingd.db.models import (
    ALL_MODELS,
    Client,
    CreditNote,
    Enterprise,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Payment,
)
from billingd.domain.allocation import settled_status
from billingd.domain.totals import tax_on
from billingd.errors import BillingError, RuleViolation
from billingd.money import has_excess_precision, quantum
from billingd.services import (
    contracts,
    credit_notes,
    invoice_actions,
    invoicing,
    ledger,
    parties,
    payments,
    usage,
)
from billingd.services.context import ServiceContext
from tests.lanes import examples

CURRENCIES = ("EUR", "JPY", "BHD")
RATES = (Decimal("0"), Decimal("7"), Decimal("7.7"), Decimal("19"), Decimal("20.5"))
YEAR = 2026


def amounts(currency: str, top: int = 50_000) -> st.SearchStrategy[Decimal]:
    """Positive amounts in the currency's minor unit: 0.01..500.00 EUR, 1..50000 JPY."""
    step = quantum(currency)
    return st.integers(1, top).map(lambda n: n * step)


def _sum(values: Any) -> Decimal:
    return sum(values, Decimal(0))


def snapshot() -> tuple[Any, ...]:
    """Everything a refused operation must leave alone: row counts and money state."""
    return (
        tuple(model.select().count() for model in ALL_MODELS),
        tuple(Invoice.select(Invoice.id, Invoice.status, Invoice.balance).tuples()),
        tuple(Payment.select(Payment.id, Payment.unallocated).tuples()),
        tuple(NumberSequence.select(NumberSequence.id, NumberSequence.next_value).tuples()),
    )


class LedgerMachine(RuleBasedStateMachine):
    """One client's financial life; the database is shared by all examples."""

    base_ctx: ClassVar[ServiceContext]
    serial: ClassVar[int] = 0

    # ------------------------------------------------------------ set-up

    @initialize(
        currency=st.sampled_from(CURRENCIES),
        client_rate=st.none() | st.sampled_from(RATES),
        terms=st.lists(
            st.tuples(
                st.integers(0, 99_999),
                st.sampled_from(("1", "2", "0.5", "1.5", "3.333")),
                st.sampled_from(RATES),
                st.dates(dt.date(YEAR, 1, 1), dt.date(YEAR, 3, 31)),
                st.none() | st.dates(dt.date(YEAR, 4, 1), dt.date(YEAR, 12, 31)),
            ),
            max_size=3,
        ),
    )
    def new_client(self, currency: str, client_rate: Decimal | None, terms: list) -> None:
        LedgerMachine.serial += 1
        self.ctx = self.base_ctx.acting_as("hypothesis")
        self.currency = currency
        self.enterprise = parties.add_enterprise(
            self.ctx,
            name=f"Acme {self.serial}",
            currency=currency,
            tax_rate=Decimal("19"),
            invoice_start=1001,
            credit_note_start=1,
        )
        self.client = parties.add_client(
            self.ctx,
            name=f"Client {self.serial}",
            enterprise_id=self.enterprise.id,
            tax_rate=client_rate,
        )
        for n, (minor, quantity, rate, start, end) in enumerate(terms):
            contracts.add_contract(
                self.ctx,
                client_id=self.client.id,
                description=f"Service {n}",
                unit_price=minor * quantum(currency),
                quantity=Decimal(quantity),
                tax_rate=rate,
                cycle="month",
                start_date=start,
                end_date=end,
            )
        # The independent tally of R-LED-1: what each successful action booked.
        self.issued = self.voided = self.paid = self.credited = Decimal(0)
        self.usage_line = 0

    # ------------------------------------------------------------ helpers

    def invoices(self) -> list[Invoice]:
        return list(Invoice.select().where(Invoice.client == self.client).order_by(Invoice.id))

    def has_invoices(self) -> bool:
        return Invoice.select().where(Invoice.client == self.client).exists()

    def attempt(self, expect: bool | None, action: Any, why: str = "") -> Any:
        """Run an action; ``expect`` True/False says whether the rules allow it (None: either).

        A refusal must be a BillingError that changed nothing.
        """
        before = snapshot()
        try:
            result = action()
        except BillingError as exc:
            event(f"refused: {type(exc).__name__} {exc.data.get('rule', '')}")
            assert expect is not True, f"refused although allowed ({why}): {exc.message}"
            assert snapshot() == before, f"the refused action changed something: {exc.message}"
            return None
        event("done")
        assert expect is not False, f"allowed although the rules refuse it: {why}"
        return result

    def pick_invoice(self, data: st.DataObject) -> Invoice:
        return data.draw(st.sampled_from(self.invoices()), label="invoice")

    def latest_issue_date(self) -> dt.date | None:
        """The latest issue date numbered so far: R-NUM-6 refuses earlier ones."""
        latest = (
            Invoice.select(Invoice.issue_date)
            .where((Invoice.enterprise == self.enterprise.id) & Invoice.number.is_null(False))
            .order_by(Invoice.issue_date.desc())
            .first()
        )
        return latest.issue_date if latest else None

    def follows_latest(self, issue_date: dt.date) -> bool:
        latest = self.latest_issue_date()
        return latest is None or issue_date >= latest

    def _book_issued(self, invoices: list[Invoice]) -> None:
        self.issued += _sum(Invoice.get_by_id(i.id).total for i in invoices)

    # ------------------------------------------------------------ actions

    @rule(data=st.data(), days_after_latest=st.integers(-10, 30), count=st.integers(1, 2))
    def invoice_for_amount(self, data: st.DataObject, days_after_latest: int, count: int) -> None:
        amount = data.draw(amounts(self.currency), label="amount")
        latest = self.latest_issue_date() or dt.date(YEAR, 1, 1)
        issue_date = latest + dt.timedelta(days=days_after_latest)
        result = self.attempt(
            self.follows_latest(issue_date),
            lambda: invoicing.invoice_for_amount(
                self.ctx,
                client_id=self.client.id,
                issue_date=issue_date,
                amount=amount,
                count=count,
            ),
            why=f"R-NUM-6: {issue_date} after the latest issue date {latest}",
        )
        if result is None:
            return
        assert [i.total for i in result] == [amount] * count  # R-INV-5
        self._book_issued(result)

    @rule(month=st.integers(1, 12), late=st.integers(0, 5))
    def invoice_for_period(self, month: int, late: int) -> None:
        start = dt.date(YEAR, month, 1)
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        result = self.attempt(
            None,  # "nothing to invoice" when the month is billed already or empty
            lambda: invoicing.invoice_for_period(
                self.ctx,
                client_id=self.client.id,
                period_start=start,
                period_end=end,
                issue_date=end + dt.timedelta(days=1 + late),
            ),
        )
        if result is not None:
            self._book_issued([result.invoice])

    @rule(
        records=st.lists(
            st.tuples(
                st.datetimes(dt.datetime(YEAR, 1, 1), dt.datetime(YEAR, 12, 31, 23, 59)),
                st.sampled_from(("Mobile DE", "Fixed DE", "Intl")),
                st.integers(0, 10**7),
            ),
            min_size=1,
            max_size=3,
        )
    )
    def import_usage(self, records: list) -> None:
        rows = []
        for occurred_at, group, ten_thousandths in records:
            self.usage_line += 1
            rows.append(
                (
                    self.usage_line,
                    {
                        "client": self.client.id,
                        "occurred_at": occurred_at.isoformat() + "Z",
                        "destination_group": group,
                        "quantity": "60",
                        "unit": "s",
                        "amount": str(Decimal(ten_thousandths).scaleb(-4)),
                    },
                )
            )
        self.attempt(True, lambda: usage.import_usage(self.ctx, rows))

    @rule(data=st.data(), targeted=st.booleans())
    def record_payment(self, data: st.DataObject, targeted: bool) -> None:
        amount = data.draw(amounts(self.currency), label="amount")
        target = self.pick_invoice(data) if targeted and self.has_invoices() else None
        expected = expected_allocations(amount, self.invoices(), target)
        payment = self.attempt(
            target is None or target.status != "void",
            lambda: payments.record_payment(
                self.ctx,
                client_id=self.client.id,
                amount=amount,
                invoice=target.id if target else None,
            ),
            why=f"payment of {amount} to {target and target.status}",
        )
        if payment is None:
            return
        self.paid += amount
        shares = {a.invoice_id: a.amount for a in payment.allocations}
        assert (shares, payment.unallocated) == expected, (
            "R-PAY-2: the target first, then the oldest (issue date, number); the rest is credit"
        )

    @precondition(lambda self: self.has_invoices())
    @rule(data=st.data(), mode=st.sampled_from(("balance", "above", "part", "any", "zero")))
    def issue_credit_note(self, data: st.DataObject, mode: str) -> None:
        invoice = self.pick_invoice(data)
        step = quantum(self.currency)
        if mode == "balance":
            amount = invoice.balance
        elif mode == "above":
            amount = invoice.balance + step
        elif mode == "part":
            amount = max(step, (invoice.balance / 3).quantize(step))
        elif mode == "zero":
            amount = Decimal(0)
        else:
            amount = data.draw(amounts(self.currency), label="amount")
        allowed = invoice.status not in ("void", "draft") and 0 < amount <= invoice.balance
        note = self.attempt(
            allowed,
            lambda: credit_notes.issue_credit_note(self.ctx, invoice=invoice.id, amount=amount),
            why=f"credit {amount} on {invoice.status} balance {invoice.balance}",
        )
        if note is not None:
            self.credited += amount

    def _voidable(self, invoice: Invoice) -> bool:
        return (
            invoice.status not in ("void", "draft")
            and not invoice.allocations.exists()
            and not invoice.credit_notes.exists()
        )

    @precondition(lambda self: self.has_invoices())
    @rule(data=st.data())
    def void_invoice(self, data: st.DataObject) -> None:
        invoice = self.pick_invoice(data)
        voided = self.attempt(
            self._voidable(invoice),
            lambda: invoice_actions.void_invoice(self.ctx, invoice.id),
            why=f"void {invoice.status} invoice",
        )
        if voided is not None:
            assert voided.number == invoice.number, "a voided invoice keeps its number"
            self.voided += invoice.total

    @precondition(lambda self: self.has_invoices())
    @rule(data=st.data())
    def reissue_invoice(self, data: st.DataObject) -> None:
        invoice = self.pick_invoice(data)
        today = self.ctx.today(self.enterprise.timezone)  # a reissue is dated today
        new = self.attempt(
            self._voidable(invoice) and self.follows_latest(today),
            lambda: invoice_actions.reissue_invoice(self.ctx, invoice.id),
            why=f"reissue {invoice.status} invoice on {today}",
        )
        if new is not None:
            assert new.replaces_id == invoice.id and new.number != invoice.number
            self.voided += invoice.total
            self._book_issued([new])

    # ------------------------------------------------------------ invariants

    @invariant()
    def ledger_matches_documents(self) -> None:
        client = Client.get_by_id(self.client.id)
        assert ledger.invariant_problems(client) == []
        expected = self.issued - self.voided - self.paid - self.credited
        assert ledger.ledger_balance(client) == expected, "R-LED-1: ledger != tally"

    @invariant()
    def invoices_add_up(self) -> None:
        for invoice in self.invoices():
            problems = invoice_problems(invoice)
            assert problems == [], problems

    @invariant()
    def payments_add_up(self) -> None:
        credit = Decimal(0)
        for payment in Payment.select().where(Payment.client == self.client):
            shares = [a.amount for a in payment.allocations]
            assert all(s > 0 for s in shares), "R-PAY-2: allocations are positive"
            assert payment.unallocated >= 0
            assert _sum(shares) + payment.unallocated == payment.amount, (
                f"R-PAY-2: payment {payment.id}: allocations {shares} + "
                f"{payment.unallocated} != {payment.amount}"
            )
            for value in (payment.amount, payment.unallocated, *shares):
                assert not has_excess_precision(value, self.currency)
            credit += payment.unallocated
        if credit > 0:
            still_open = [
                (i.number, i.balance) for i in self.invoices() if i.status in ("open", "partial")
            ]
            assert still_open == [], f"R-PAY-2: credit {credit} unapplied while {still_open} open"

    @invariant()
    def numbers_are_gapless(self) -> None:
        enterprise = Enterprise.get_by_id(self.enterprise.id)
        numbers = [
            int(i.number)
            for i in Invoice.select(Invoice.number).where(
                (Invoice.enterprise == enterprise) & Invoice.number.is_null(False)
            )
        ]
        start = enterprise.invoice_start
        assert sorted(numbers) == list(range(start, start + len(numbers))), "R-NUM-3"
        notes = [
            int(n.number.removeprefix("CN-"))
            for n in CreditNote.select(CreditNote.number).where(CreditNote.enterprise == enterprise)
        ]
        start = enterprise.credit_note_start
        assert sorted(notes) == list(range(start, start + len(notes))), "R-NUM-5"


def expected_allocations(
    amount: Decimal, invoices: list[Invoice], target: Invoice | None
) -> tuple[dict[int, Decimal], Decimal]:
    """R-PAY-2 as a model: the target up to its balance, then the others oldest first
    (issue date, then number); what is left stays as credit."""
    open_ = [i for i in invoices if i.status in ("open", "partial") and i.balance > 0]
    others = sorted(
        (i for i in open_ if target is None or i.id != target.id),
        key=lambda i: (i.issue_date, int(i.number)),
    )
    first = [i for i in open_ if target is not None and i.id == target.id]
    shares, left = {}, amount
    for invoice in (*first, *others):
        share = min(left, invoice.balance)
        if share > 0:
            shares[invoice.id] = share
            left -= share
    return shares, left


def invoice_problems(invoice: Invoice) -> list[str]:
    """Everything wrong with one invoice's amounts (an empty list when consistent)."""
    currency, name = invoice.currency, f"invoice {invoice.number}"
    problems = []
    lines = list(invoice.lines.order_by(InvoiceLine.position))
    nets, taxes = _sum(line.net for line in lines), _sum(line.tax for line in lines)
    if invoice.subtotal != nets or invoice.tax != taxes:
        problems.append(f"{name}: subtotal/tax {invoice.subtotal}/{invoice.tax} != lines")
    if invoice.total != nets + taxes:
        problems.append(f"R-MONEY-2 {name}: total {invoice.total} != Σ nets + Σ taxes")
    if invoice.period_start is not None:  # tax once per rate over the nets at that rate
        rates = {line.tax_rate.normalize() for line in lines}
        for rate in rates:
            at_rate = [line for line in lines if line.tax_rate.normalize() == rate]
            group_tax = tax_on(_sum(line.net for line in at_rate), rate, currency)
            if _sum(line.tax for line in at_rate) != group_tax:
                problems.append(f"R-MONEY-2 {name}: tax at {rate}% is not {group_tax}")
    values = [invoice.subtotal, invoice.tax, invoice.total, invoice.balance]
    values += [line.net for line in lines] + [line.tax for line in lines]
    allocated = _sum(a.amount for a in invoice.allocations)
    credited = _sum(n.amount for n in invoice.credit_notes)
    values += [a.amount for a in invoice.allocations] + [n.amount for n in invoice.credit_notes]
    if any(has_excess_precision(v, currency) for v in values):
        problems.append(f"R-MONEY-2 {name}: an amount is finer than {currency} allows")
    if invoice.balance < 0:
        problems.append(f"{name}: negative balance {invoice.balance}")
    if invoice.status == "void":
        if invoice.balance != 0 or allocated or credited:
            problems.append(f"R-INV-8 {name}: void with balance, payments or credit notes")
    else:
        if invoice.balance != invoice.total - allocated - credited:
            problems.append(
                f"R-INV-7 {name}: balance {invoice.balance} != total {invoice.total} "
                f"- allocations {allocated} - credit notes {credited}"
            )
        if invoice.status != settled_status(invoice.total, invoice.balance):
            problems.append(f"R-INV-7 {name}: status {invoice.status} for {invoice.balance}")
    if any(n.amount <= 0 for n in invoice.credit_notes):
        problems.append(f"R-CN-1 {name}: a credit note that is not positive")
    for note in invoice.credit_notes:  # split over the VAT rates to the minor unit
        parts = _sum(Decimal(p["net"]) + Decimal(p["tax"]) for p in note.tax_breakdown)
        if not note.net + note.tax == parts == note.amount:
            problems.append(f"R-CN-2 {name}: {note.number} net + tax or its parts != amount")
    return problems


def test_r_led_1_r_pay_2_r_cn_1_r_money_2_hold_after_every_step(
    tmp_path: Path, loaded_plugins: Any
) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(database)
    clock = TestClock()  # reissues and credit notes are dated today: mid next year
    clock.set(dt.datetime(YEAR + 1, 6, 30, 12, tzinfo=dt.UTC))
    LedgerMachine.base_ctx = ServiceContext(
        actor="hypothesis", clock=clock, plugins=loaded_plugins, data_dir=tmp_path / "data"
    )
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=examples(60),
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        database.close()


def test_refused_operations_are_billing_errors_that_change_nothing(
    tmp_path: Path, loaded_plugins: Any
) -> None:
    """The refusals the machine relies on, spelled out once (R-CN-1, R-INV-8, R-PAY-2)."""
    database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(database)
    ctx = ServiceContext(actor="t", plugins=loaded_plugins, data_dir=tmp_path / "data")
    enterprise = parties.add_enterprise(ctx, name="A", currency="EUR", tax_rate=Decimal("19"))
    client = parties.add_client(ctx, name="J", enterprise_id=enterprise.id)
    first, second = invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(YEAR, 1, 5), amount=Decimal("119.00"), count=2
    )
    payments.record_payment(ctx, client_id=client.id, amount=Decimal("19.00"), invoice=first.id)

    def refused(action: Any, error: type[BillingError] = BillingError) -> str:
        before = snapshot()
        with pytest.raises(error) as caught:
            action()
        assert snapshot() == before, "a refused action changed something"
        return caught.value.message

    credit = credit_notes.issue_credit_note
    assert "exceeds the balance" in refused(
        lambda: credit(ctx, invoice=first.id, amount=Decimal("100.01")), RuleViolation
    )
    assert "payments allocated" in refused(
        lambda: invoice_actions.void_invoice(ctx, first.id), RuleViolation
    )
    refused(lambda: credit(ctx, invoice=second.id, amount=Decimal("0")))
    refused(lambda: credit(ctx, invoice=second.id, amount=Decimal("0.001")))
    credit(ctx, invoice=second.id, amount=Decimal("19.00"))
    assert "credit notes" in refused(
        lambda: invoice_actions.void_invoice(ctx, second.id), RuleViolation
    )
    third = invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(YEAR, 1, 6), amount=Decimal("5.00")
    )[0]
    invoice_actions.void_invoice(ctx, third.id)
    refused(
        lambda: payments.record_payment(
            ctx, client_id=client.id, amount=Decimal("1.00"), invoice=third.id
        ),
        RuleViolation,
    )
    refused(lambda: credit(ctx, invoice=third.id, amount=Decimal("1.00")), RuleViolation)
    refused(lambda: invoice_actions.void_invoice(ctx, third.id), RuleViolation)
    assert ledger.invariant_problems(client) == []
    database.close()


@pytest.mark.parametrize(
    ("currency", "rate", "amount"),
    [("EUR", "19", "0.09"), ("EUR", "20.5", "0.15"), ("JPY", "7.7", "21")],
)
def test_r_inv_9_reissuing_an_amount_invoice_keeps_its_total(
    tmp_path: Path, loaded_plugins: Any, currency: str, rate: str, amount: str
) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(database)
    ctx = ServiceContext(actor="t", plugins=loaded_plugins, data_dir=tmp_path / "data")
    enterprise = parties.add_enterprise(ctx, name="A", currency=currency, tax_rate=Decimal(rate))
    client = parties.add_client(ctx, name="J", enterprise_id=enterprise.id)
    [original] = invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(YEAR, 1, 5), amount=Decimal(amount)
    )
    assert original.total == Decimal(amount)
    new = invoice_actions.reissue_invoice(ctx, original.id)
    try:
        assert (new.subtotal, new.tax, new.total) == (
            original.subtotal,
            original.tax,
            original.total,
        )
    finally:
        database.close()
