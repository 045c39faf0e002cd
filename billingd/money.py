"""Money: one decimal constructor, per-currency quantisation, an immutable amount.

R-MONEY-1: money is :class:`decimal.Decimal` end to end; :func:`D` refuses floats.
R-MONEY-2: amounts are quantised to the currency's minor unit with ROUND_HALF_UP.
R-MONEY-3: arithmetic across currencies raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 minor units that differ from the common 2.
_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
)
_THREE_DECIMAL = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
# Active ISO 4217 codes accepted for enterprises and clients.
KNOWN_CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD
    BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYI UYU UZS VES VND VUV WST XAF XCD XOF XPF YER
    ZAR ZMW ZWL""".split()
)


class MoneyError(ValueError):
    """An amount or currency that cannot be money."""


def D(value: Decimal | int | str) -> Decimal:
    """Build a Decimal from a string, int or Decimal; refuse floats and non-finite values."""
    if isinstance(value, (bool, float)):
        raise MoneyError(f"money must not be a float: {value!r}; pass a decimal string")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"not a decimal number: {value!r}") from None
    else:
        raise MoneyError(f"not a decimal number: {value!r}")
    if not result.is_finite():
        raise MoneyError(f"not a finite number: {value!r}")
    return result


_PLAIN_DECIMAL = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*")
"""Digits 0-9 only: Decimal() also reads other scripts' digits (``١٢.٥٠``, ``１２``)."""


def parse_decimal(value: object) -> Decimal:
    """A decimal arriving from outside (socket, CSV, JSON lines): a plain decimal string
    such as ``"12.50"`` in the digits 0-9, or an integer. Floats, exponents, NaN,
    infinity and other scripts' digits are refused."""
    plain = isinstance(value, str) and _PLAIN_DECIMAL.fullmatch(value)
    if plain:
        return Decimal(value)  # digits and one point: always finite
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError(f'must be a decimal such as "12.50" (digits 0-9), got {value!r}')
    return D(value)  # type: ignore[arg-type]


def check_currency(code: str) -> str:
    """Return the upper-cased ISO 4217 code, or raise MoneyError."""
    normalised = str(code).strip().upper()
    if normalised not in KNOWN_CURRENCIES:
        raise MoneyError(f"unknown currency {code!r} (expected an ISO 4217 code such as EUR)")
    return normalised


def minor_units(currency: str) -> int:
    """Digits after the decimal point for a currency (EUR 2, JPY 0, BHD 3)."""
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


def quantum(currency: str) -> Decimal:
    """The smallest amount of a currency, e.g. Decimal('0.01') for EUR."""
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round an amount to the currency's minor unit, half up (R-MONEY-2)."""
    return D(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def has_excess_precision(amount: Decimal, currency: str) -> bool:
    """True when an amount has more decimals than its currency allows."""
    return quantize(amount, currency) != amount


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency; adding two currencies raises (R-MONEY-3)."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", quantize(D(self.amount), self.currency))

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"mixed currencies: {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def money_text(amount: Decimal, currency: str) -> str:
    """The canonical decimal string of an amount, as sent over the socket."""
    return str(quantize(amount, currency))
