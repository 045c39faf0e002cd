"""Number sequences (SPEC §4): numbers follow issue dates (R-NUM-6), and a change of
pattern, start or reset policy never repeats a number (issue 9, defect 12; see
docs/billing-rules.md, "Numbering"). Service tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingd.clock import FixedClock
from billingd.db.models import AuditEvent, CreditNote, Enterprise, Invoice, LedgerEntry
from billingd.domain.numbering import (
    IssueOrderError,
    check_issue_order,
    first_free,
    format_number,
    number_value,
    period_range,
)
from billingd.errors import RuleViolation
from billingd.services import credit_notes, invoicing, parties
from billingd.services.context import ServiceContext
from billingd.services.numbering import CREDIT_NOTE, INVOICE, latest_issue_date
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok
from tests.lanes import examples

D = dt.date


def noon(day: dt.date) -> FixedClock:
    """A clock at noon UTC of a day: credit notes and reissues are dated today."""
    return FixedClock(dt.datetime.combine(day, dt.time(12)))


def counts() -> tuple[int, ...]:
    return tuple(m.select().count() for m in (Invoice, CreditNote, LedgerEntry, AuditEvent))


def amount_on(ctx: ServiceContext, client, day: dt.date, count: int = 1) -> list[str]:  # type: ignore[no-untyped-def]
    made = invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=day, amount=Decimal("10.00"), count=count
    )
    return [invoice.number for invoice in made]


@pytest.fixture
def acme(ctx: ServiceContext) -> Enterprise:
    return parties.add_enterprise(
        ctx, name="Acme", currency="EUR", invoice_pattern="%num%/%year%", invoice_start=100001
    )


@pytest.fixture
def jane(ctx: ServiceContext, acme: Enterprise):  # type: ignore[no-untyped-def]
    return parties.add_client(ctx, name="Jane", enterprise_id=acme.id)


# ---------------------------------------------------------------- pure rules


def test_r_num_6_issue_order_rule() -> None:
    assert check_issue_order(D(2026, 3, 1), None) == D(2026, 3, 1)
    assert check_issue_order(D(2026, 3, 1), D(2026, 3, 1)) == D(2026, 3, 1)
    with pytest.raises(IssueOrderError, match="2026-02-28 is before 2026-03-01"):
        check_issue_order(D(2026, 2, 28), D(2026, 3, 1))


def test_r_num_6_sequence_periods() -> None:
    assert period_range("never", D(2026, 5, 5)) == (None, None)
    assert period_range("yearly", D(2026, 5, 5)) == (D(2026, 1, 1), D(2026, 12, 31))
    assert period_range("monthly", D(2024, 2, 10)) == (D(2024, 2, 1), D(2024, 2, 29))
    assert period_range("monthly", D(2026, 12, 31)) == (D(2026, 12, 1), D(2026, 12, 31))


@pytest.mark.parametrize(
    "pattern", ["%num%/%year%", "INV-%year%%mon%%mday%-%num%", "%num%", "100%% %num%", "%num%9"]
)
def test_r_num_3_number_value_inverts_format_number(pattern: str) -> None:
    day = D(2026, 3, 5)
    for num in (1, 9, 10, 100001):
        assert number_value(pattern, day, format_number(pattern, num, day)) == num
    assert number_value(pattern, day, format_number(pattern, 7, D(2027, 4, 6))) in (
        None,
        7,  # the pattern has no date field the days differ in
    )
    assert number_value(pattern, day, "unrelated") is None


def test_r_num_3_first_free_passes_over_issued_numbers() -> None:
    day = D(2026, 6, 1)
    issued = [f"{n}/2026" for n in range(100001, 100051)] + ["100001/2025", "CN-7"]
    assert first_free("%num%/%year%", day, 100001, issued) == 100051
    assert first_free("%num%/%year%", day, 100060, issued) == 100060
    assert first_free("%num%/%year%", D(2027, 1, 1), 100001, issued) == 100001
    assert first_free("%num%/%year%", day, 1, ["1/2026", "2/2026", "4/2026"]) == 3


# ---------------------------------------------------------------- R-NUM-6 at the service


def test_r_num_6_earlier_issue_date_refused_and_nothing_written(ctx: ServiceContext, jane) -> None:
    assert amount_on(ctx, jane, D(2026, 3, 10)) == ["100001/2026"]
    before = counts()
    with pytest.raises(RuleViolation, match="R-NUM-6") as refused:
        amount_on(ctx, jane, D(2026, 3, 9))
    assert "2026-03-09 is before 2026-03-10" in refused.value.message
    assert refused.value.data["latest_issue_date"] == "2026-03-10"
    assert counts() == before
    with pytest.raises(RuleViolation, match="R-NUM-6"):  # several at once alike
        invoicing.invoice_for_amount(
            ctx, client_id=jane.id, issue_date=D(2025, 12, 31), amount=Decimal("1"), count=3
        )
    assert counts() == before
    # the same day and later days are accepted, and the sequence has no gap
    assert amount_on(ctx, jane, D(2026, 3, 10)) == ["100002/2026"]
    assert amount_on(ctx, jane, D(2026, 4, 1), count=2) == ["100003/2026", "100004/2026"]


def test_r_num_6_latest_issue_date_per_sequence(ctx: ServiceContext, acme, jane) -> None:
    assert latest_issue_date(acme, INVOICE, D(2026, 1, 1)) is None
    amount_on(ctx, jane, D(2026, 3, 10))
    amount_on(ctx, jane, D(2026, 5, 2))
    assert latest_issue_date(acme, INVOICE, D(2026, 1, 1)) == D(2026, 5, 2)
    assert latest_issue_date(acme, INVOICE, D(2030, 1, 1)) == D(2026, 5, 2)  # never resets
    assert latest_issue_date(acme, CREDIT_NOTE, D(2026, 1, 1)) is None
    other = parties.add_enterprise(ctx, name="Other", currency="EUR")
    assert latest_issue_date(other, INVOICE, D(2026, 1, 1)) is None
    yearly = parties.update_enterprise(ctx, acme.id, invoice_reset="yearly")
    assert latest_issue_date(yearly, INVOICE, D(2027, 1, 1)) is None
    assert latest_issue_date(yearly, INVOICE, D(2026, 12, 31)) == D(2026, 5, 2)


def test_r_num_6_holds_within_a_sequence_only(ctx: ServiceContext, acme, jane) -> None:
    """With a monthly reset each month is a sequence of its own: January's may still
    get a number after February's, never an earlier date than January's latest."""
    parties.update_enterprise(
        ctx, acme.id, invoice_pattern="%year%%mon%-%num%", invoice_reset="monthly", invoice_start=1
    )
    assert amount_on(ctx, jane, D(2026, 1, 20)) == ["202601-1"]
    assert amount_on(ctx, jane, D(2026, 2, 3)) == ["202602-1"]
    assert amount_on(ctx, jane, D(2026, 1, 31)) == ["202601-2"]
    with pytest.raises(RuleViolation, match="R-NUM-6"):
        amount_on(ctx, jane, D(2026, 1, 19))


def test_r_num_6_credit_notes_follow_their_dates(ctx: ServiceContext, jane) -> None:
    (invoice,) = invoicing.invoice_for_amount(
        ctx, client_id=jane.id, issue_date=D(2026, 3, 1), amount=Decimal("10.00")
    )
    ctx.clock = noon(D(2026, 3, 5))
    credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=Decimal("1.00"))
    before = counts()
    ctx.clock = noon(D(2026, 3, 4))  # e.g. a daemon whose clock is behind
    with pytest.raises(RuleViolation, match="R-NUM-6") as refused:
        credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=Decimal("1.00"))
    assert refused.value.message.startswith("credit note issue date 2026-03-04")
    assert counts() == before


def test_r_num_6_operator_date_through_billingctl(daemon: RunningDaemon, tmp_path: Path) -> None:
    company = ok(
        daemon,
        "enterprise",
        "add",
        "--name",
        "Acme",
        "--currency",
        "EUR",
        "--pattern",
        "%num%/%year%",
        "--start",
        "100001",
    )
    client = str(
        ok(daemon, "client", "add", "--name", "J", "--enterprise", str(company["id"]))["id"]
    )

    def amount(day: str) -> list[str]:
        made = ok(daemon, "invoice", "amount", "--client", client, "--date", day, "--amount", "5")
        return [invoice["number"] for invoice in made]

    assert amount("2026-11-15") == ["100001/2026"]
    # the document is rendered after the commit: wait, so the snapshot holds still
    ok(daemon, "invoice", "pdf", "100001/2026", "-o", str(tmp_path / "first.pdf"), "--wait", "30")
    invoices = ok(daemon, "invoice", "list")
    audit = ok(daemon, "audit", "--limit", "5000")
    result = billingctl(
        daemon.socket,
        "invoice",
        "amount",
        "--client",
        client,
        "--date",
        "2026-11-14",
        "--amount",
        "5",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["data"]["rule"] == "R-NUM-6"
    assert "2026-11-14 is before 2026-11-15" in error["message"]
    assert ok(daemon, "invoice", "list") == invoices
    assert ok(daemon, "audit", "--limit", "5000") == audit
    assert amount("2026-11-15") == ["100002/2026"]
    assert amount("2026-12-02") == ["100003/2026"]


# ---------------------------------------------------------------- defect 12: changed settings


def test_r_num_4_reset_switched_on_mid_year_takes_effect_next_year(
    ctx: ServiceContext, acme, jane
) -> None:
    """The defect: never → yearly in June restarted at 100001/2026, a duplicate, and
    every later invoice failed. Now June continues the year's numbers; 2027 restarts."""
    assert amount_on(ctx, jane, D(2026, 3, 1), count=3) == [
        "100001/2026",
        "100002/2026",
        "100003/2026",
    ]
    parties.update_enterprise(ctx, acme.id, invoice_reset="yearly")
    assert amount_on(ctx, jane, D(2026, 6, 1), count=2) == ["100004/2026", "100005/2026"]
    assert amount_on(ctx, jane, D(2027, 1, 1), count=2) == ["100001/2027", "100002/2027"]


def test_r_num_4_reset_switched_off_mid_year_repeats_nothing(
    ctx: ServiceContext, acme, jane
) -> None:
    parties.update_enterprise(ctx, acme.id, invoice_reset="yearly", invoice_start=1)
    amount_on(ctx, jane, D(2026, 11, 1), count=4)  # 1..4/2026
    amount_on(ctx, jane, D(2027, 2, 1), count=2)  # 1..2/2027
    parties.update_enterprise(ctx, acme.id, invoice_reset="never")
    assert amount_on(ctx, jane, D(2027, 3, 1), count=2) == ["3/2027", "4/2027"]
    parties.update_enterprise(ctx, acme.id, invoice_reset="yearly")  # and back again
    assert amount_on(ctx, jane, D(2027, 4, 1)) == ["5/2027"]
    assert amount_on(ctx, jane, D(2028, 1, 3)) == ["1/2028"]


def test_r_num_4_pattern_and_start_changes_repeat_nothing(ctx: ServiceContext, acme, jane) -> None:
    assert amount_on(ctx, jane, D(2026, 3, 1), count=2) == ["100001/2026", "100002/2026"]
    parties.update_enterprise(ctx, acme.id, invoice_pattern="INV-%num%")
    assert amount_on(ctx, jane, D(2026, 3, 2)) == ["INV-100003"]
    parties.update_enterprise(
        ctx, acme.id, invoice_pattern="%num%/%year%", invoice_reset="yearly", invoice_start=1
    )
    parties.update_enterprise(ctx, acme.id, invoice_start=100001)
    assert amount_on(ctx, jane, D(2026, 3, 3)) == ["100003/2026"]


def test_r_num_5_credit_note_reset_switched_on_mid_year(ctx: ServiceContext, acme, jane) -> None:
    (invoice,) = invoicing.invoice_for_amount(
        ctx, client_id=jane.id, issue_date=D(2026, 1, 5), amount=Decimal("100.00")
    )
    parties.update_enterprise(ctx, acme.id, credit_note_pattern="CN-%year%-%num%")

    def credit(day: dt.date) -> str:
        ctx.clock = noon(day)
        return credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=Decimal("1")).number

    assert [credit(D(2026, 2, 1)), credit(D(2026, 2, 2))] == ["CN-2026-1", "CN-2026-2"]
    parties.update_enterprise(ctx, acme.id, credit_note_reset="yearly")
    assert [credit(D(2026, 7, 1)), credit(D(2027, 1, 4))] == ["CN-2026-3", "CN-2027-1"]


SETTINGS = st.sampled_from(
    [
        ("%num%", "never"),
        ("%num%/%year%", "never"),
        ("%num%/%year%", "yearly"),
        ("%year%%mon%-%num%", "never"),
        ("%year%%mon%-%num%", "yearly"),
        ("%year%%mon%-%num%", "monthly"),
        ("%num%-%mon%/%year%", "monthly"),
    ]
)


@given(
    steps=st.lists(
        st.tuples(SETTINGS, st.integers(1, 3), st.integers(0, 40), st.integers(1, 2)),
        min_size=1,
        max_size=8,
    )
)
@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_r_num_3_no_settings_change_ever_repeats_a_number(
    ctx: ServiceContext, steps: list[tuple[tuple[str, str], int, int, int]]
) -> None:
    """Random changes of pattern, reset and start between invoices: every invoice is
    issued (no "conflicting change"), and no number is ever repeated."""
    enterprise = parties.add_enterprise(ctx, name="Random", currency="EUR")
    client = parties.add_client(ctx, name="C", enterprise_id=enterprise.id)
    day, numbers = D(2026, 1, 1), []
    for (pattern, reset), start, days, count in steps:
        parties.update_enterprise(
            ctx, enterprise.id, invoice_pattern=pattern, invoice_reset=reset, invoice_start=start
        )
        day += dt.timedelta(days=days)
        numbers += amount_on(ctx, client, day, count)
    assert len(set(numbers)) == len(numbers), numbers
    stored = Invoice.select(Invoice.number).where(Invoice.enterprise == enterprise.id)
    assert sorted(i.number for i in stored) == sorted(numbers)
