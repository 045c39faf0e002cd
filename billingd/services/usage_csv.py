"""The quick path of a usage file sent as CSV text: plain rows checked all at once.

A chunk of a CSV usage file (whole lines, no quoted cells) is matched line by line
against one regular expression built for its header. The expression accepts only
rows that :func:`billingd.domain.usage_rows.validate_row` surely accepts and stores
exactly as matched: ids of digits, instants ``YYYY-MM-DDTHH:MM:SS`` in UTC (``Z``,
``+00:00`` or nothing), decimals of digits and at most six places (their text is
their stored form), a rated amount, group names without space at either end. Every
line matching (and the days it names existing) makes the chunk plain; anything else
(a bad row, but also a row merely written otherwise: an offset, an unrated record)
sends the whole chunk through the exact row-by-row checks, which name each bad line
and column as before. The quick path converts nothing in Python: SQLite forms the
stored values in the INSERT itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from billingd.domain.bounds import text_bound
from billingd.domain.usage_rows import COLUMNS, REQUIRED, keyed_rows

ID = r"([1-9][0-9]{0,17})"  # under 2**63: what both databases store
OPTIONAL_ID = r"((?:[1-9][0-9]{0,17})?)"
INSTANT = (
    r"((?:19[7-9][0-9]|2[01][0-9][0-9])-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))[T ]"
    r"((?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])(?:Z|\+00:00)?"
)  # a day of bounds.DATES (1970-2199)


def _text(column: str) -> str:
    """Text within the column's bound, with nothing PostgreSQL's COPY escapes (or
    refuses: NUL)."""
    return rf"([^,\"\t\\\r\n\x00]{{0,{text_bound(column).high}}})"


GROUP = (  # as strip() leaves it
    r"([^,\"\s\\\x00](?:[^,\"\t\\\r\n\x00]"
    rf"{{0,{text_bound('destination_group').high - 2}}}[^,\"\s\\\x00])?)"
)
QUANTITY = r"((?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,6})?)"  # under 10**9 (bounds.QUANTITY)
AMOUNT = r"((?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,6})?)"  # under 10**12 (USAGE_AMOUNT)
PATTERNS = {
    "client": ID,
    "occurred_at": INSTANT,
    "destination": _text("destination"),
    "destination_group": GROUP,
    "quantity": QUANTITY,
    "unit": _text("unit"),
    "amount": AMOUNT,
    "external_id": _text("external_id"),
    "contract": OPTIONAL_ID,
}
"""Each column's plain form; ``str(Decimal(text)) == text`` for the decimals matched."""


@dataclass(frozen=True)
class Layout:
    """Where each column's text is in a match of :attr:`pattern` (the instant: two)."""

    pattern: re.Pattern[str]
    group: dict[str, int]  # column -> index of its (first) group in a match


@functools.lru_cache(maxsize=64)
def layout(header: tuple[str, ...]) -> Layout | None:
    """The plain-row expression of a header; None when no row under it can be plain
    (an unknown or repeated column, a required one or ``amount`` missing)."""
    if len(set(header)) != len(header) or not set(header) <= set(COLUMNS):
        return None
    if not {*REQUIRED, "amount"} <= set(header):
        return None
    group, index = {}, 0
    for column in header:
        group[column] = index
        index += 2 if column == "occurred_at" else 1
    pattern = "^" + ",".join(PATTERNS[c] for c in header) + r"\r?$"
    return Layout(re.compile(pattern, re.MULTILINE), group)


def line_count(text: str) -> int:
    """The lines of a chunk: each ends with a line break, bar perhaps the last."""
    return text.count("\n") + (not text.endswith("\n"))


def plain_rows(header: tuple[str, ...], text: str) -> list[tuple[str, ...]] | None:
    """Every line of ``text`` matched (in order), or None: some line is not plain."""
    shape = layout(header)
    if shape is None or not text:
        return None
    matches = shape.pattern.findall(text)
    if len(matches) != line_count(text):
        return None
    day = shape.group["occurred_at"]
    for text_day in {m[day] for m in matches}:
        try:
            dt.date.fromisoformat(text_day)
        except ValueError:  # 2026-02-30
            return None
    return matches


def csv_rows(
    header: tuple[str, ...], text: str, first_line: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of a chunk as :func:`billingd.domain.usage_rows.read_rows` reads them
    from the file: keyed by the header, with their lines, blank lines skipped."""
    yield from keyed_rows(csv.reader(io.StringIO(text, newline="")), header, first_line)
