"""The bounds of every value billingd accepts (issue 9, defect 11).

Nothing accepted may overflow later, in date arithmetic, a database column or a PDF.
Each bound is declared once here and used at every boundary: the socket's parameters
(``billingd.control.params``), the CSV import columns and usage rows, the test clock.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billingd.errors import ValidationError

Orderable = int | Decimal | dt.date


@dataclass(frozen=True)
class Bound:
    """The values a parameter accepts beyond its type: ``low..high`` (inclusive) and, for
    decimals, at most ``places`` digits after the point."""

    low: Orderable
    high: Orderable
    places: int | None = None
    unit: str = ""

    def problem(self, value: Orderable | str) -> str | None:
        """What is wrong with ``value`` (``must be …``), or None when it is in bounds; a
        text is measured by its length."""
        if isinstance(value, str):
            if not self.low <= len(value) <= self.high:  # type: ignore[operator]
                return f"must be {self._range()}, got {len(value)}"
            return None
        if not self.low <= value <= self.high:  # type: ignore[operator]
            return f"must be {self._range()}, got {_shown(value)}"
        if (
            self.places is not None
            and isinstance(value, Decimal)
            and value != value.quantize(_quantum(self.places))
        ):
            return f"must have at most {self.places} decimals, got {_shown(value)}"
        return None

    def check(self, name: str, value: Any) -> Any:
        problem = self.problem(value)
        if problem:
            raise ValidationError(f"{name} {problem}", field=name)
        return value

    def _range(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.low == 0 and self.unit == "characters":
            return f"at most {_plain(self.high)}{unit}"
        return f"from {_plain(self.low)} to {_plain(self.high)}{unit}"

    def describe(self) -> str:
        """The bound in words, for error messages and docs/protocol.md."""
        places = f", at most {self.places} decimals" if self.places is not None else ""
        return self._range() + places


@functools.cache
def _quantum(places: int) -> Decimal:
    """``places`` decimals' smallest step: 2 -> 0.01."""
    return Decimal(1).scaleb(-places)


def _shown(value: Orderable) -> str:
    """A value as an error message quotes it: plain digits, shortened when long."""
    text = f"{value:f}" if isinstance(value, Decimal) else str(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


def _plain(value: Orderable) -> str:
    """``10^12`` style for the round powers of ten in a bound, else the value."""
    if isinstance(value, int | Decimal) and abs(value) >= 10**6:
        digits = len(str(abs(int(value)))) - 1
        if abs(value) == 10**digits:
            return ("-" if value < 0 else "") + f"10^{digits}"
    return str(value)


INT_RANGE = (-(2**63), 2**63 - 1)  # what both databases store
ID_NUMBERS = Bound(1, INT_RANGE[1])
"""A row id named in an import (a bigger one would overflow the database driver)."""
DATES = Bound(dt.date(1970, 1, 1), dt.date(2199, 12, 31))
"""Every date, and the test clock's instants (their UTC day)."""
REVIEW_DAYS = Bound(0, 365, unit="days")
PAYMENT_TERMS = Bound(0, 3650, unit="days")
INTERVAL = Bound(1, 1000, unit="cycles")
COUNT = Bound(1, 1000)
NUMBER_START = Bound(1, 10**9)
"""A numbering start: the counters are 32-bit on PostgreSQL, with room to count on."""
OFFSET = Bound(0, INT_RANGE[1])
FILE_LINES = Bound(1, 10**12)
"""A line of an imported file (its rows are staged with it)."""
AMOUNT = Bound(Decimal(-(10**12)), Decimal(10**12), places=3)
"""Prices and amounts in the currency's unit; the currency's own decimals (EUR 2, JPY 0,
BHD 3) are checked by the services, which know the currency."""
USAGE_AMOUNT = Bound(Decimal(-(10**12)), Decimal(10**12), places=10)
"""A rated usage record's amount: sub-cent as rating gives it, kept exactly; its
invoice line is rounded to the currency."""
QUANTITY = Bound(Decimal(-(10**9)), Decimal(10**9), places=6)
TAX_RATE = Bound(Decimal(0), Decimal(100), places=4, unit="percent")
MAX_TEXT = 10_000
"""Characters in any text cell, before its field's own bound (:data:`TEXT_FIELDS`)."""
IDENTIFIER = Bound(1, 50, unit="characters")
"""A name the daemon looks up as a file (a timezone, a template): short enough for any
file system, in any script."""

# -- texts: a bound per kind, and the kind of every text field by its name -------------
# Long enough for what the field holds anywhere, short enough that a document holding
# every field at its longest stays a page or two (a 1,000,000-character name made a
# 297-page PDF).


def _characters(most: int) -> Bound:
    return Bound(0, most, unit="characters")


WORD = _characters(50)
"""A code or choice the services check against their list (a status, cycle, currency,
country, format, unit), a duration, a month, an import's id."""
NUMBER_PATTERN = _characters(100)
"""A numbering pattern: every invoice number is about as long."""
REFERENCE = _characters(200)
"""An identifier issued elsewhere: tax and registration ids, IBAN, BIC, phone, contract
number, electronic address, a payment's reference (SEPA's is 140), a usage record's
external id; a client's invoice days."""
NAME = _characters(200)
"""The name of a party, company, brand or bill group, a business or category type, a
city; a usage record's destination and destination group; a search."""
EMAIL = _characters(254)
"""An e-mail address: the longest SMTP carries (RFC 5321)."""
DESCRIPTION = _characters(1000)
"""An invoice line's text: a contract's, a pending charge's, an amount invoice's."""
ADDRESS = _characters(1000)
"""A postal address block of several lines."""
NOTE = _characters(2000)
"""Free text beside an operation or document: notes, reasons, a brand's footer, an
exemption's legal wording, a bill group's list of recipients."""
PATH = _characters(4096)
"""A file name (Linux's PATH_MAX): a logo, the file an import came from."""

TEXT_FIELDS: dict[str, Bound] = {
    **dict.fromkeys(
        "currency cycle status timing origin gateway reset credit_note_reset reverse_charge "
        "tax_category einvoice_format language invoicing uploader layout format state channel "
        "charge_mode country postcode endpoint_scheme by month period unit import_id "
        "accent_color".split(),
        WORD,
    ),
    "pattern": NUMBER_PATTERN,
    "credit_note_pattern": NUMBER_PATTERN,
    **dict.fromkeys(
        "tax_id registration_id iban bic phone contract_number endpoint_id reference "
        "external_id invoice_days".split(),
        REFERENCE,
    ),
    **dict.fromkeys(
        "name company business_type category_type city brand destination destination_group "
        "search".split(),
        NAME,
    ),
    "email": EMAIL,
    "emails": NOTE,
    "description": DESCRIPTION,
    "address": ADDRESS,
    **dict.fromkeys("notes reason footer exemption_reason".split(), NOTE),
    **dict.fromkeys("logo_path source".split(), PATH),
}
"""The bound of each text field, by its name as a socket parameter or an import column
(``tax-id`` is ``tax_id``): declared once for both. A text parameter without a bound of
its own must be named here (the method registry refuses it otherwise)."""


def text_bound(field: str) -> Bound:
    """The bound of text field ``field`` (:data:`TEXT_FIELDS`); KeyError for no field."""
    return TEXT_FIELDS[field.replace("-", "_")]


def first_of_month(month: str, field: str) -> dt.date:
    """The first day of a ``YYYY-MM`` month within :data:`DATES` (a month of 9999 overflowed
    when its end was reckoned); ValidationError naming ``field`` otherwise."""
    try:
        if len(month) != 7:
            raise ValueError(month)
        day = dt.date.fromisoformat(f"{month}-01")
    except ValueError:
        problem = f"{field} must be a month YYYY-MM, got {month!r}"
        raise ValidationError(problem, field=field) from None
    return DATES.check(field, day)


def digits_value(text: str) -> int | None:
    """The number ``text`` writes in the digits 0-9 (blanks around them allowed), or None:
    other characters, other scripts' digits (which ``int()`` reads: ``١٢``, ``１２``), or
    more digits than a 64-bit integer has."""
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= 19:
        return int(text)
    return None


def id_value(text: str) -> int | None:
    """The row id an all-digit text names (an invoice or credit note named by number or
    id), or None: no such text, or an id no database stores."""
    number = digits_value(text)
    return number if number is not None and ID_NUMBERS.problem(number) is None else None


def text_problem(value: str) -> str | None:
    """What is wrong with a text value (``must …``), or None: the bound of every text
    parameter and import cell (PostgreSQL stores no NUL character)."""
    if len(value) > MAX_TEXT:
        return f"must be at most {MAX_TEXT} characters, got {len(value)}"
    if "\x00" in value:
        return "must not contain NUL characters"
    return None
