"""Usage records as they arrive in CSV or JSON lines: parsing and row validation.

Shared by ``billingctl`` (which checks a whole file before sending anything) and
the daemon (which checks again before writing).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from billingd.domain.bounds import (
    DATES,
    QUANTITY,
    USAGE_AMOUNT,
    Bound,
    text_bound,
)
from billingd.money import MoneyError, parse_decimal

RECORD = ("occurred_at", "destination", "destination_group", "quantity", "unit", "amount")
"""What a usage record says, in every listing of records (statistics, documents)."""
COLUMNS = ("client", *RECORD, "external_id", "contract")
REQUIRED = ("client", "occurred_at", "destination_group", "quantity")
KNOWN = frozenset((*COLUMNS, None))  # None: DictReader's key for cells beyond the header


class RowError(ValueError):
    """A bad row; ``line`` is the 1-based line in the file and ``field`` the column."""

    def __init__(self, line: int, field: str | None, message: str) -> None:
        where = f"line {line}" + (f", {field}" if field else "")
        super().__init__(f"{where}: {message}")
        self.line = line
        self.field = field
        self.reason = message


@dataclass(frozen=True, slots=True)
class UsageRow:
    line: int
    client_id: int
    occurred_at: dt.datetime  # naive UTC
    destination: str
    destination_group: str
    quantity: Decimal
    unit: str
    amount: Decimal | None
    external_id: str | None
    contract_id: int | None = None  # the record's contract: routes it to its bill group


def read_rows(stream: IO[str], fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, raw row)`` from a CSV (header row) or JSON-lines stream, lazily."""
    if fmt == "csv":
        reader = csv.reader(stream)
        header = next(reader, [])
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise RowError(1, None, f"missing column(s): {', '.join(missing)}")
        yield from keyed_rows(reader, header)
    elif fmt == "jsonl":
        for number, text in enumerate(stream, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RowError(number, None, f"not JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise RowError(number, None, "each line must be a JSON object")
            yield number, row
    else:
        raise ValueError(f"unknown usage format {fmt!r}; use csv or jsonl")


def keyed_rows(
    reader: Any, header: Sequence[str], first_line: int = 1
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a ``csv.reader`` keyed by ``header``, each with the line it ends on
    (``first_line``: the line the reader's first line is in the file); blank lines are
    skipped, and a row with more or fewer values than the header is refused, the
    column beyond the header named by its position."""
    for values in reader:
        if not values:
            continue
        line = first_line - 1 + reader.line_num
        if len(values) != len(header):
            problem = f"{len(values)} values, but the header has {len(header)} columns"
            if len(values) > len(header):
                problem += f" (a value in column {len(header) + 1}, which has no name)"
            raise RowError(line, None, problem)
        yield line, dict(zip(header, values, strict=True))


def _decimal(line: int, field: str, value: Any) -> Decimal:
    try:
        return parse_decimal(value)
    except MoneyError as exc:
        raise RowError(line, field, str(exc)) from None


MAX_ID = 2**63 - 1  # what both databases store


def _id(line: int, field: str, value: Any) -> int:
    """An object id: a whole number, in a JSON line or as CSV text."""
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise RowError(line, field, f"must be a {field} id, got {value!r}")
    return int(text)


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant as naive UTC; a time without offset is UTC."""
    instant = dt.datetime.fromisoformat(text.strip())  # "Z" is UTC since Python 3.11
    if instant.tzinfo is not None:
        instant = instant.astimezone(dt.UTC).replace(tzinfo=None)
    return instant


def _within(line: int, field: str, value: Decimal | dt.date | str, bound: Bound) -> None:
    """A value inside its bound (defect 11: nothing accepted overflows later)."""
    problem = bound.problem(value)
    if problem:
        raise RowError(line, field, problem)


TEXTS = ("destination", "destination_group", "unit", "external_id")
_LONGEST = {field: int(text_bound(field).high) for field in TEXTS}


def _text(line: int, field: str, value: Any) -> str:
    """A text cell within its field's bound (``bounds.TEXT_FIELDS``), without NUL."""
    text = value if type(value) is str else str(value)
    if len(text) > _LONGEST[field] or "\x00" in text:
        _within(line, field, text, text_bound(field))
        raise RowError(line, field, "must not contain NUL characters")
    return text


def validate_row(line: int, raw: dict[str, Any]) -> UsageRow:
    """Check one raw row; raise RowError naming the line and column."""
    if not KNOWN.issuperset(raw):
        unknown = raw.keys() - KNOWN
        raise RowError(line, None, f"unknown column(s): {', '.join(sorted(map(str, unknown)))}")
    for column in REQUIRED:
        if raw.get(column) in (None, ""):
            raise RowError(line, column, "is required")
    client_id = _id(line, "client", raw["client"])
    contract = raw.get("contract")
    contract_id = None if contract in (None, "") else _id(line, "contract", contract)
    try:
        occurred_at = parse_instant(str(raw["occurred_at"]))
    except (ValueError, OverflowError):  # year 9999 with an offset overflows
        raise RowError(
            line, "occurred_at", f"not an ISO 8601 time: {raw['occurred_at']!r}"
        ) from None
    _within(line, "occurred_at", occurred_at.date(), DATES)
    quantity = _decimal(line, "quantity", raw["quantity"])
    if quantity < 0:
        raise RowError(line, "quantity", "must not be negative")
    _within(line, "quantity", quantity, QUANTITY)
    amount = None
    if raw.get("amount") not in (None, ""):
        amount = _decimal(line, "amount", raw["amount"])
        if amount < 0:
            raise RowError(line, "amount", "must not be negative")
        _within(line, "amount", amount, USAGE_AMOUNT)
    external_id = raw.get("external_id")
    return UsageRow(
        line=line,
        client_id=client_id,
        occurred_at=occurred_at,
        destination=_text(line, "destination", raw.get("destination") or ""),
        destination_group=_text(line, "destination_group", raw["destination_group"]).strip(),
        quantity=quantity,
        unit=_text(line, "unit", raw.get("unit") or ""),
        amount=amount,
        external_id=(
            _text(line, "external_id", external_id) if external_id not in (None, "") else None
        ),
        contract_id=contract_id,
    )
