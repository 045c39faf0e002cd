"""The doctor's rules, pure: ledger (R-LED-1), balances (R-INV-7), numbering (R-NUM-3,
R-NUM-6) read with the settings of their time, stray files, lapsed claims."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from billingd.domain import invariants
from billingd.domain.invariants import (
    InvoiceSums,
    Numbered,
    NumberingSettings,
    StoredFile,
    numbering_problems,
    numbering_timeline,
)
from billingd.domain.numbering import format_number

D = Decimal
T0 = dt.datetime(2026, 1, 1)
YEARLY = NumberingSettings("%num%/%year%", 100001, "yearly")
NEVER = NumberingSettings("%num%/%year%", 100001, "never")


def numbered(
    pattern: str, values: list[int], day: dt.date, *, first_id: int = 1, made: dt.datetime = T0
) -> list[Numbered]:
    """Documents with these ``%num%`` values, issued on ``day`` (a day apart each)."""
    return [
        Numbered(
            first_id + n,
            format_number(pattern, value, day + dt.timedelta(days=n)),
            day + dt.timedelta(days=n),
            made + dt.timedelta(seconds=n),
        )
        for n, value in enumerate(values)
    ]


def messages(problems: list[invariants.Problem]) -> list[str]:
    return [f"{p.rule} {p.subject}: {p.message}" for p in problems]


def test_r_led_1_ledger_must_equal_open_balances_less_credit() -> None:
    client, reseller = ("client", 1), ("reseller", 2)
    assert (
        invariants.ledger_problems(
            {client: D("70.00"), reseller: D("5.00")},
            {client: D("100.00"), reseller: D("5.00")},
            {client: D("30.00")},
        )
        == []
    )
    (problem,) = invariants.ledger_problems({client: D("100.00")}, {client: D("100.00")},
                                            {client: D("30.00")})  # fmt: skip
    assert (problem.check, problem.rule, problem.subject) == ("ledger", "R-LED-1", "client 1")
    assert "ledger balance 100.00" in problem.message and "= 70.00" in problem.message
    # an owner with ledger entries only, or open invoices only, is compared with zero
    assert len(invariants.ledger_problems({client: D("1")}, {reseller: D("1")}, {})) == 2


def sums(**changes: object) -> InvoiceSums:
    base = dict(
        id=7, number="100007/2026", status="partial", subtotal=D("100.00"), tax=D("19.00"),
        total=D("119.00"), balance=D("69.00"), line_nets=D("100.00"), line_taxes=D("19.00"),
        allocated=D("40.00"), credited=D("10.00"),
    )  # fmt: skip
    return InvoiceSums(**{**base, **changes})  # type: ignore[arg-type]


def test_r_inv_7_balance_and_status_follow_allocations_and_credit_notes() -> None:
    assert invariants.invoice_problems(sums()) == []
    paid = sums(status="paid", balance=D(0), allocated=D("109.00"))
    assert invariants.invoice_problems(paid) == []
    (wrong,) = messages(invariants.invoice_problems(sums(balance=D("79.00"), status="partial")))
    assert (
        wrong.startswith("R-INV-7 invoice 100007/2026 (id 7): balance 79.00") and "69.00" in wrong
    )
    (status,) = messages(invariants.invoice_problems(sums(status="open")))
    assert "status open, its balance says partial" in status
    # an invoice of a negative total owes nothing and is paid at once
    minus, zero = D("-10.00"), D(0)
    negative = sums(subtotal=minus, tax=zero, total=minus, line_nets=minus, line_taxes=zero,
                    balance=zero, allocated=zero, credited=zero, status="paid")  # fmt: skip
    assert invariants.invoice_problems(negative) == []


def test_r_money_2_totals_are_their_lines() -> None:
    found = messages(invariants.invoice_problems(sums(line_nets=D("90.00"), total=D("120.00"))))
    assert any("its lines add up to 90.00/19.00" in m for m in found)
    assert any("total 120.00 != 100.00 + 19.00" in m for m in found)


def test_r_inv_8_a_void_invoice_owes_and_holds_nothing() -> None:
    void = sums(status="void", balance=D(0), allocated=D(0), credited=D(0))
    assert invariants.invoice_problems(void) == []
    (problem,) = invariants.invoice_problems(sums(status="void", balance=D(0), credited=D(0)))
    assert problem.rule == "R-INV-8" and "40.00 allocated" in problem.message


def test_r_pay_2_a_payment_is_allocated_credit_or_refunded() -> None:
    assert invariants.payment_problems(1, D("50"), D("5"), D("15"), D("30")) == []
    (problem,) = invariants.payment_problems(1, D("50"), D("5"), D("15"), D("31"))
    assert problem.rule == "R-PAY-2" and "amount 50 != allocated 31" in problem.message


def test_orphan_allocations_and_credit_notes() -> None:
    assert invariants.allocation_problems(1, True, 2, "paid") == []
    found = messages(invariants.allocation_problems(1, False, 2, None))
    assert found == [
        "R-PAY-2 allocation 1: its payment does not exist",
        "R-PAY-2 allocation 1: its invoice id 2 does not exist",
    ]
    assert messages(invariants.allocation_problems(3, True, 4, "void")) == [
        "R-INV-8 allocation 3: its invoice id 4 is void"
    ]
    assert invariants.credit_note_problems(1, "CN-1", 2, "partial") == []
    assert "is void" in invariants.credit_note_problems(1, "CN-1", 2, "void")[0].message
    assert "does not exist" in invariants.credit_note_problems(1, "CN-1", 2, None)[0].message


# -- numbering ------------------------------------------------------------------------------


def test_r_num_3_a_gapless_sequence_from_its_start_is_clean() -> None:
    documents = numbered("%num%/%year%", [100001, 100002, 100003], dt.date(2026, 3, 1))
    assert numbering_problems("enterprise 1", "invoice", documents, [(None, NEVER)]) == []


def test_r_num_3_a_gap_is_reported_with_what_is_missing() -> None:
    documents = numbered("%num%/%year%", [100001, 100002, 100005, 100006, 100008],
                         dt.date(2026, 3, 1))  # fmt: skip
    found = messages(numbering_problems("enterprise 1", "invoice", documents, [(None, NEVER)]))
    assert found == [
        "R-NUM-3 enterprise 1 invoice numbers: gap: 100003..100004 missing between "
        "100002/2026 and 100005/2026",
        "R-NUM-3 enterprise 1 invoice numbers: gap: 100007 missing between 100006/2026 and "
        "100008/2026",
    ]


def test_r_num_3_a_sequence_that_does_not_begin_at_its_start() -> None:
    documents = numbered("%num%/%year%", [100002, 100003], dt.date(2026, 3, 1))
    (problem,) = numbering_problems("enterprise 1", "invoice", documents, [(None, NEVER)])
    assert problem.message == "start at 100002/2026: 100001 missing"


def test_r_num_6_a_higher_number_with_an_earlier_date() -> None:
    documents = numbered("%num%/%year%", [100001, 100002, 100003], dt.date(2026, 3, 1))
    late = documents[2]
    documents[2] = Numbered(late.id, late.number, dt.date(2026, 2, 27), late.created_at)
    (problem,) = numbering_problems("enterprise 1", "invoice", documents, [(None, NEVER)])
    assert problem.rule == "R-NUM-6"
    assert problem.message == "100003/2026 is dated 2026-02-27, before 100002/2026 (2026-03-02)"


def test_r_num_4_each_year_is_a_sequence_and_another_year_explains_no_gap() -> None:
    """Yearly: 2027 starts again; a value missing in 2026 is a gap though 2027 has it."""
    documents = numbered("%num%/%year%", [100001, 100002], dt.date(2026, 12, 30))
    documents += numbered("%num%/%year%", [100001, 100003], dt.date(2027, 6, 1), first_id=10)
    (problem,) = numbering_problems("enterprise 1", "invoice", documents, [(None, YEARLY)])
    assert problem.subject == "enterprise 1 invoice numbers of 2027"
    assert problem.message == "gap: 100002 missing between 100001/2027 and 100003/2027"


def test_r_num_4_settings_changed_mid_year_are_read_as_of_each_document() -> None:
    """docs/billing-rules.md: yearly -> never in 2027 continues after the year's numbers,
    passing over what the yearly sequence holds; a new start begins a new sequence."""
    change = dt.datetime(2027, 3, 1)
    timeline = [(None, YEARLY), (change, NEVER)]
    before = numbered("%num%/%year%", [100001, 100002, 100003], dt.date(2027, 1, 5))
    after = numbered("%num%/%year%", [100004, 100005], dt.date(2027, 3, 2), first_id=10,
                     made=change + dt.timedelta(hours=1))  # fmt: skip
    assert numbering_problems("enterprise 1", "invoice", before + after, timeline) == []
    # the never-sequence began at 100001 but passed over 100001..100003: no gap, no start
    later = numbered("%num%/%year%", [100006], dt.date(2028, 1, 2), first_id=20,
                     made=change + dt.timedelta(days=300))  # fmt: skip
    assert numbering_problems("enterprise 1", "invoice", before + after + later, timeline) == []


def test_r_num_1_a_changed_pattern_reads_old_numbers_with_the_old_one() -> None:
    changes = [(dt.datetime(2026, 6, 1), {"invoice_pattern": ["%num%/%year%", "INV-%num%"]})]
    current = NumberingSettings("INV-%num%", 100001, "never")
    timeline = numbering_timeline("invoice", current, changes)
    assert timeline == [(None, NEVER), (dt.datetime(2026, 6, 1), current)]
    old = numbered("%num%/%year%", [100001, 100002], dt.date(2026, 5, 1))
    new = numbered("INV-%num%", [100003], dt.date(2026, 6, 2), first_id=5,
                   made=dt.datetime(2026, 6, 2))  # fmt: skip
    assert numbering_problems("enterprise 1", "invoice", old + new, timeline) == []
    stray = [Numbered(9, "X-1", dt.date(2026, 6, 3), dt.datetime(2026, 6, 3))]
    (problem,) = numbering_problems("enterprise 1", "invoice", old + new + stray, timeline)
    assert problem.rule == "R-NUM-1" and problem.subject == "enterprise 1 invoice X-1"


def test_numbering_timeline_ignores_other_changes_and_replays_starts() -> None:
    current = NumberingSettings("CN-%num%", 500, "never")
    changes = [
        (dt.datetime(2026, 1, 1), {"name": ["A", "B"]}),
        (dt.datetime(2026, 2, 1), {"credit_note_start": ["1", "500"]}),
    ]
    assert numbering_timeline("credit note", current, changes) == [
        (None, NumberingSettings("CN-%num%", 1, "never")),
        (dt.datetime(2026, 2, 1), current),
    ]


def test_r_num_3_a_huge_jump_is_reported_at_once() -> None:
    documents = numbered("%num%", [1, 10**12], dt.date(2026, 3, 1))
    began = time.perf_counter()
    plain = NumberingSettings("%num%", 1, "never")
    (problem,) = numbering_problems("enterprise 1", "invoice", documents, [(None, plain)])
    assert time.perf_counter() - began < 0.5
    assert problem.message == f"gap: 2..{10**12 - 1} missing between 1 and {10**12}"


# -- files and claims -----------------------------------------------------------------------


def test_ready_document_files_must_be_there_and_not_empty() -> None:
    paths = {"pdf": "/d/1.pdf", "ubl": "/d/1.xml"}
    sizes = {"/d/1.pdf": 10, "/d/1.xml": 5}
    assert invariants.missing_files("job 1", ["pdf", "ubl"], paths, sizes) == []
    found = messages(
        invariants.missing_files("job 1", ["pdf", "ubl", "stats-csv"], paths, {"/d/1.pdf": 0})
    )
    assert found == [
        "R-INV-11 job 1: pdf file is empty: /d/1.pdf",
        "R-INV-11 job 1: ubl file missing: /d/1.xml",
        "R-INV-11 job 1: ready, but it has no stats-csv document",
    ]


def test_stray_files_but_not_those_a_render_under_way_may_still_commit() -> None:
    old, new = dt.datetime(2026, 1, 1, 10), dt.datetime(2026, 1, 1, 12)
    files = [
        StoredFile("/d/named.pdf", 10, old),
        StoredFile("/d/orphan.pdf", 2000, old),
        StoredFile("/d/empty.pdf", 0, old),
        StoredFile("/d/fresh.pdf", 10, new),
    ]
    found = invariants.stray_files(files, {"/d/named.pdf"}, in_flight_since=None)
    assert [p.subject for p in found] == [
        "file /d/orphan.pdf",
        "file /d/empty.pdf",
        "file /d/fresh.pdf",
    ]
    assert "an empty file" in found[1].message
    during = invariants.stray_files(files, {"/d/named.pdf"}, in_flight_since=new)
    assert [p.subject for p in during] == ["file /d/orphan.pdf", "file /d/empty.pdf"]


def test_a_claim_is_stuck_when_its_process_is_gone_or_its_lease_lapsed() -> None:
    now, lease = dt.datetime(2026, 1, 1, 12), dt.timedelta(minutes=10)
    assert invariants.stuck_claim(now - dt.timedelta(minutes=5), False, now, lease) is None
    assert "process is gone" in str(invariants.stuck_claim(now, True, now, lease))
    lapsed = invariants.stuck_claim(now - dt.timedelta(minutes=11), False, now, lease)
    assert lapsed == "claimed since 2026-01-01 11:49:00 UTC, longer than its lease of 0:10:00"
