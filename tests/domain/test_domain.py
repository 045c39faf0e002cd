"""Pure rules: numbering (R-NUM), periods (R-TIME), cycles (R-RUN-4), invoice days, bank details."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from billingd.domain.bank import normalise_bic, normalise_iban
from billingd.domain.cycles import add_months, cycles
from billingd.domain.invoice_days import clamp_day, parse_invoice_days
from billingd.domain.numbering import PatternError, check_pattern, check_reset, format_number
from billingd.domain.periods import period_bounds

D = dt.date


def test_r_num_1_pattern_fields() -> None:
    assert format_number("%num%/%year%", 100001, D(2026, 3, 5)) == "100001/2026"
    assert format_number("INV-%year%%mon%%mday%-%num%", 7, D(2026, 3, 5)) == "INV-20260305-7"
    assert format_number("100%% %num%", 1, D(2026, 1, 1)) == "100%% 1"


@pytest.mark.parametrize("pattern", ["%year%/%mon%", "", "   ", "%num%-%num%"])
def test_r_num_2_pattern_without_single_num_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        check_pattern(pattern)


def test_r_num_4_reset_needs_fields_that_tell_sequences_apart() -> None:
    assert check_reset("%num%", "never") == "never"
    assert check_reset("%num%/%year%", "yearly") == "yearly"
    with pytest.raises(PatternError, match="%year%"):
        check_reset("%num%", "yearly")
    with pytest.raises(PatternError, match="%mon%"):
        check_reset("%year%-%num%", "monthly")


def test_r_time_2_whole_end_day_in_enterprise_timezone() -> None:
    lo, hi = period_bounds(D(2026, 1, 1), D(2026, 1, 31), "Europe/Berlin")
    assert lo == dt.datetime(2025, 12, 31, 23, 0)
    assert hi == dt.datetime(2026, 1, 31, 23, 0)  # Feb 1 00:00 Berlin (exclusive)


def test_r_time_2_period_across_dst_change() -> None:
    # Berlin springs forward on 2026-03-29: the day has 23 hours
    lo, hi = period_bounds(D(2026, 3, 29), D(2026, 3, 29), "Europe/Berlin")
    assert hi - lo == dt.timedelta(hours=23)
    # New York falls back on 2026-11-01: 25 hours
    lo, hi = period_bounds(D(2026, 11, 1), D(2026, 11, 1), "America/New_York")
    assert hi - lo == dt.timedelta(hours=25)


def test_r_run_4_month_end_anchor_is_kept() -> None:
    anchor = D(2026, 1, 31)
    assert [add_months(anchor, n) for n in range(4)] == [
        D(2026, 1, 31),
        D(2026, 2, 28),
        D(2026, 3, 31),
        D(2026, 4, 30),
    ]
    assert add_months(D(2028, 1, 31), 1) == D(2028, 2, 29)


def test_r_run_4_cycles_contiguous_and_never_overlapping() -> None:
    for unit, interval in (("day", 3), ("week", 2), ("month", 1), ("month", 3), ("year", 1)):
        found = list(cycles(D(2024, 1, 31), unit, interval, D(2028, 12, 31)))
        assert found[0].start == D(2024, 1, 31)
        for before, after in itertools.pairwise(found):
            assert after.start == before.end + dt.timedelta(days=1)


def test_r_run_3_invoice_days() -> None:
    assert parse_invoice_days("15, 1,15") == (1, 15)
    assert parse_invoice_days("") == ()
    with pytest.raises(ValueError, match="32"):
        parse_invoice_days("1,32")
    assert clamp_day(2026, 2, 31) == D(2026, 2, 28)
    assert clamp_day(2028, 2, 30) == D(2028, 2, 29)


def test_bank_details_validated() -> None:
    assert normalise_iban("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    with pytest.raises(ValueError, match="check digits"):
        normalise_iban("DE89370400440532013001")
    assert normalise_bic("cobadeffxxx") == "COBADEFFXXX"
    with pytest.raises(ValueError):
        normalise_bic("COBA")


def test_r_pay_2_oldest_first_means_issue_date_then_number() -> None:
    from decimal import Decimal

    from billingd.domain.allocation import OpenItem, allocate_payment

    day = D(2026, 1, 1)
    items = [
        OpenItem(1, day, day, Decimal("5"), "10/2026"),
        OpenItem(2, day, day, Decimal("5"), "9/2026"),
        OpenItem(3, D(2025, 12, 31), day, Decimal("5"), "11/2026"),
    ]
    shares, rest = allocate_payment(Decimal("12"), items, None, "oldest_first")
    assert shares == [(3, Decimal("5")), (2, Decimal("5")), (1, Decimal("2"))]
    assert rest == 0


@pytest.mark.parametrize(
    ("unit", "interval"),
    [("day", 3), ("week", 2), ("month", 1), ("month", 5), ("year", 1), ("year", 2)],
)
def test_r_run_4_cycles_since_start_at_the_cycle_containing_that_day(
    unit: str, interval: int
) -> None:
    anchor = D(2024, 1, 31)
    every = list(cycles(anchor, unit, interval, D(2030, 12, 31)))
    for since in (
        D(2023, 5, 1),
        anchor,
        D(2024, 2, 29),
        D(2025, 3, 30),
        D(2028, 2, 29),
        D(2030, 12, 31),
    ):
        expected = [c for c in every if c.end >= since]
        assert list(cycles(anchor, unit, interval, D(2030, 12, 31), since=since)) == expected
