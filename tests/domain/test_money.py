"""R-MONEY-1..3: decimals only, per-currency rounding, no mixed currencies; exact totals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billingd.domain.totals import allocate, compute_totals, split_gross, tax_on
from billingd.money import D, Money, MoneyError, minor_units, quantize


def test_r_money_1_d_refuses_floats() -> None:
    with pytest.raises(MoneyError, match="float"):
        D(0.1)  # type: ignore[arg-type]
    assert D("0.10") == Decimal("0.10")
    assert D(3) == Decimal(3)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", "", "1,5"])
def test_r_money_1_d_refuses_non_numbers(bad: str) -> None:
    with pytest.raises(MoneyError):
        D(bad)


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("EUR", "2.345", "2.35"),
        ("EUR", "2.344", "2.34"),
        ("EUR", "-2.345", "-2.35"),
        ("JPY", "2.5", "3"),
        ("JPY", "1234.49", "1234"),
        ("BHD", "1.2345", "1.235"),
        ("KWD", "0.0004", "0.000"),
    ],
)
def test_r_money_2_round_half_up_per_currency(currency: str, amount: str, expected: str) -> None:
    assert str(quantize(D(amount), currency)) == expected


def test_r_money_2_minor_units() -> None:
    assert (minor_units("EUR"), minor_units("JPY"), minor_units("BHD")) == (2, 0, 3)


def test_r_money_3_mixed_currencies_refused() -> None:
    with pytest.raises(MoneyError, match="mixed currencies"):
        Money(D("1"), "EUR") + Money(D("1"), "USD")
    assert Money(D("1.005"), "EUR") + Money(D("2"), "EUR") == Money(D("3.01"), "EUR")


def test_r_money_2_tax_once_per_rate_over_summed_nets() -> None:
    # three lines of 0.33 at 19 %: per-line rounding would give 3 × 0.06 = 0.18;
    # EN 16931 taxes the sum: 0.99 × 19 % = 0.1881 → 0.19
    totals = compute_totals([D("0.33")] * 3, [D("19")] * 3, "EUR")
    assert totals.tax == D("0.19")
    assert sum(totals.line_taxes) == D("0.19")
    assert totals.total == D("1.18")


def test_r_money_2_breakdown_by_rate() -> None:
    totals = compute_totals(
        [D("100.00"), D("10.00"), D("50.00")], [D("19"), D("7"), D("19")], "EUR"
    )
    assert [(g.rate, g.net, g.tax) for g in totals.breakdown] == [
        (D("7"), D("10.00"), D("0.70")),
        (D("19"), D("150.00"), D("28.50")),
    ]
    assert totals.total == D("189.20")


money = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=2)
rates = st.sampled_from([D("0"), D("5"), D("7"), D("19"), D("20"), D("21"), D("7.7")])
currencies = st.sampled_from(["EUR", "JPY", "BHD"])


@given(st.lists(st.tuples(money, rates), min_size=1, max_size=30), currencies)
def test_r_money_2_total_is_nets_plus_taxes_exactly(lines: list, currency: str) -> None:
    nets = [quantize(n, currency) for n, _ in lines]
    totals = compute_totals(nets, [r for _, r in lines], currency)
    assert totals.total == totals.subtotal + totals.tax
    assert totals.subtotal == sum(nets)
    assert totals.tax == sum(g.tax for g in totals.breakdown)
    assert sum(totals.line_taxes) == totals.tax
    for group in totals.breakdown:
        assert group.tax == tax_on(group.net, group.rate, currency)


@given(
    st.decimals(min_value=Decimal("-10000"), max_value=Decimal("10000"), places=2),
    st.lists(
        st.decimals(min_value=Decimal("0"), max_value=Decimal("1000"), places=2),
        min_size=1,
        max_size=20,
    ),
)
def test_allocation_sums_exactly_and_stays_close(total: Decimal, weights: list) -> None:
    shares = allocate(total, weights, "EUR")
    assert sum(shares) == total
    weight_sum = sum(weights)
    if weight_sum:
        for share, weight in zip(shares, weights, strict=True):
            assert abs(share - total * weight / weight_sum) < D("0.01")


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2), rates)
def test_r_inv_5_gross_split_is_exact(gross: Decimal, rate: Decimal) -> None:
    net, tax = split_gross(gross, rate, "EUR")
    assert net + tax == gross
    assert abs(tax - tax_on(net, rate, "EUR")) <= D("0.01")
