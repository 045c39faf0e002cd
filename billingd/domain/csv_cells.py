"""Cells of the CSV files billingd writes, safe to open in a spreadsheet (OWASP
"CSV injection"): every file goes through :func:`safe_cell`.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
(or their full-width forms, which some spreadsheets take for them) is written with a
leading ``'``: a spreadsheet shows it as the text it is and never runs it
(``=HYPERLINK(…)``, ``=cmd|…``). Numbers stay numbers: an ``int`` or ``Decimal``, and
in a column the writer declares numeric a plain decimal number written as text
(``-12.50``, billingd's own money and quantities), are written as they are. Anything
else in a numeric column is text like any other, so a column is never a way around
the rule; and a number in a text column (a destination ``+4930123``, a name
``-2+3``) is text and gets its quote.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def safe_cell(value: Any, numeric: bool = False) -> Any:
    """``value`` as a spreadsheet must read it: text that could start a formula
    prefixed with ``'``; numbers (and, with ``numeric``, decimal text) as they are."""
    if not isinstance(value, str):
        return value if isinstance(value, int | Decimal) or value is None else safe_cell(str(value))
    if numeric and _NUMBER.fullmatch(value):
        return value
    return "'" + value if value.startswith(FORMULA_STARTS) else value
