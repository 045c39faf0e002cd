"""CSV formula injection (OWASP; issue 14): the one rule every CSV billingd writes
follows (billingd.domain.csv_cells), and a check that every CSV writer uses it."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from billingd.domain.csv_cells import safe_cell

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('=HYPERLINK("http://x","click")', '\'=HYPERLINK("http://x","click")'),
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+4930123", "'+4930123"),
        ("-2+3", "'-2+3"),
        ("-12.50", "'-12.50"),  # in a text column, text
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),  # a full-width equals sign
        ("Mobile DE", "Mobile DE"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_text_that_could_start_a_formula_gets_a_quote(text: str, shown: str) -> None:
    assert safe_cell(text) == shown


def test_numbers_stay_numbers() -> None:
    assert safe_cell(Decimal("-12.50")) == Decimal("-12.50")
    assert safe_cell(-3) == -3
    assert safe_cell(None) is None
    for number in ("-12.50", "12.50", "-0", "1000000"):
        assert safe_cell(number, numeric=True) == number
    # in a numeric column, only a plain decimal number goes through as it is
    for text in ("-1e3", "-12.50+1", "=1", "- 1", "-.5", "+12"):
        assert safe_cell(text, numeric=True) == "'" + text


def test_a_spreadsheet_reads_the_quote_not_a_formula() -> None:
    out = io.StringIO()
    csv.writer(out).writerow([safe_cell("=1+1"), safe_cell("-12.50", numeric=True)])
    assert out.getvalue() == "'=1+1,-12.50\r\n"


def test_every_csv_billingd_writes_goes_through_safe_cell() -> None:
    """A new export, report or statistics file cannot forget the rule: each module that
    makes a CSV writer imports safe_cell."""
    writers = re.compile(r"\bcsv\.(writer|DictWriter)\(")
    found = []
    for folder in ("billingd", "plugins"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if writers.search(text):
                found.append(path.relative_to(ROOT))
                assert "from billingd.domain.csv_cells import safe_cell" in text, path
    assert found, "no CSV writer found: the check looks in the wrong place"
