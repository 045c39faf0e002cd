"""The rows of a client or contract file: its columns, and each row checked and typed.

The header names are the ``billingctl client add`` / ``contract add`` option names
(``tax-id`` and ``tax_id`` both work); an error names the line and the column as the
file spells it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billingd.domain import party_details
from billingd.domain.bounds import (
    AMOUNT,
    DATES,
    ID_NUMBERS,
    INTERVAL,
    MAX_TEXT,
    QUANTITY,
    TAX_RATE,
    Bound,
    text_bound,
    text_problem,
)
from billingd.domain.csv_columns import column_key
from billingd.errors import ValidationError
from billingd.money import parse_decimal

MAX_REPORTED = 50  # row errors carried in the error's data; the count covers all
TRUE_WORDS = frozenset(("true", "yes", "1"))
FALSE_WORDS = frozenset(("false", "no", "0", ""))


@dataclass(frozen=True, slots=True)
class Column:
    """One import column: its header name (an ``add`` option), service keyword, type, and
    the bound its ``add`` parameter declares (``billingd.control.params``); a text's is its
    field's (``bounds.TEXT_FIELDS``), as for the parameter."""

    name: str
    param: str
    kind: str = "text"  # text | int | bool | decimal | date
    required: bool = False
    bound: Bound | None = None

    def __post_init__(self) -> None:
        if self.kind == "text" and self.bound is None:
            object.__setattr__(self, "bound", text_bound(self.name))


def text_columns(names: tuple[str, ...]) -> tuple[Column, ...]:
    """Text columns named like their ``add`` options (``tax_category`` → ``tax-category``)."""
    return tuple(Column(name.replace("_", "-"), name) for name in names)


CLIENT_COLUMNS: tuple[Column, ...] = (
    Column("name", "name", required=True),
    Column("enterprise", "enterprise_id", "int", required=True, bound=ID_NUMBERS),
    Column("reseller", "reseller_id", "int", bound=ID_NUMBERS),
    Column("email", "email"),
    Column("invoice-days", "invoice_days"),
    Column("send-stats", "send_stats", "bool"),
    Column("send-email", "send_email", "bool"),
    Column("publish", "publish", "bool"),
    Column("currency", "currency"),
    Column("company", "company"),
    Column("tax-id", "tax_id"),
    Column("contract-number", "contract_number"),
    Column("business-type", "business_type"),
    Column("category-type", "category_type"),
    Column("address", "address"),
    Column("tax-rate", "tax_rate", "decimal", bound=TAX_RATE),
    *text_columns(party_details.PARTY_FIELDS),
)
CONTRACT_COLUMNS: tuple[Column, ...] = (
    Column("client", "client_id", "int", bound=ID_NUMBERS),
    Column("reseller", "reseller_id", "int", bound=ID_NUMBERS),
    Column("description", "description", required=True),
    Column("price", "unit_price", "decimal", required=True, bound=AMOUNT),
    Column("quantity", "quantity", "decimal", bound=QUANTITY),
    Column("cycle", "cycle", required=True),
    Column("interval", "interval", "int", bound=INTERVAL),
    Column("start", "start_date", "date", required=True, bound=DATES),
    Column("anchor", "anchor_date", "date", bound=DATES),
    Column("end", "end_date", "date", bound=DATES),
    Column("timing", "timing"),
    Column("origin", "origin"),
    Column("tax-rate", "tax_rate", "decimal", bound=TAX_RATE),
    Column("gateway", "payment_method"),
    Column("bill-group", "bill_group_id", "int", bound=ID_NUMBERS),
    *text_columns(party_details.CONTRACT_FIELDS),
)


class RowProblem(Exception):
    """One bad value: the column (header name) and what is wrong with it."""

    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass(frozen=True, slots=True)
class ParsedRow:
    line: int
    values: dict[str, Any]  # service keyword -> typed value
    headers: dict[str, str]  # column name -> the key as the caller spelled it


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*", value):  # not any script's
        return int(value)
    raise ValueError(f"must be a whole number (an id), got {value!r}")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str | int) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"must be true/false, yes/no or 1/0, got {value!r}")


def _decimal(value: Any) -> Decimal:
    return parse_decimal(value)  # MoneyError is a ValueError, reported with the row


def _date(value: Any) -> dt.date:
    try:
        if not isinstance(value, str):
            raise ValueError
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"must be a date YYYY-MM-DD, got {value!r}") from None


def _text(value: Any) -> str:
    if type(value) is str and len(value) <= MAX_TEXT and "\x00" not in value:
        return value.strip()  # the usual cell, in bounds
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"must be text, got {value!r}")
    problem = text_problem(str(value))
    if problem:
        raise ValueError(problem)
    return str(value).strip()


PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": _text,
    "int": _int,
    "bool": _bool,
    "decimal": _decimal,
    "date": _date,
}


@dataclass(frozen=True, slots=True)
class _Step:
    key: str | None  # the row's key for the column; None: a required column not given
    column: Column
    parse: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Plan:
    headers: dict[str, str]
    steps: tuple[_Step, ...]


class RowParser:
    """Type-checks rows keyed by header names, raising RowProblem naming the column.

    What a set of keys means (which column each names, in which order they are
    checked) is worked out once per set: the rows of a file share their header, bar
    the empty cells left out. An empty value means "not given" (the ``add`` command's
    default applies).
    """

    MAX_PLANS = 1024  # distinct key sets remembered (a CSV file has few)

    def __init__(self, columns: tuple[Column, ...]) -> None:
        self.columns = columns
        self._by_name = {c.name: c for c in columns}
        self._plans: dict[tuple[Any, ...], _Plan | RowProblem] = {}

    def parse(self, line: int, raw: Any) -> ParsedRow:
        if not isinstance(raw, dict):
            raise RowProblem(None, "a row must be an object keyed by column names")
        keys = tuple(raw)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plan(keys)
            if len(self._plans) < self.MAX_PLANS:
                self._plans[keys] = plan
        if isinstance(plan, RowProblem):
            raise RowProblem(plan.column, plan.message)
        values: dict[str, Any] = {}
        for step in plan.steps:
            column = step.column
            value = raw[step.key] if step.key is not None else None
            if value is None or (isinstance(value, str) and not value.strip()):
                if column.required:
                    raise RowProblem(step.key or column.name, "is required")
                continue
            try:
                parsed = step.parse(value)
            except ValueError as exc:
                raise RowProblem(step.key, str(exc)) from None
            problem = column.bound.problem(parsed) if column.bound else None
            if problem:
                raise RowProblem(step.key, problem)
            values[column.param] = parsed
        return ParsedRow(line, values, plan.headers)

    def _plan(self, keys: tuple[Any, ...]) -> _Plan | RowProblem:
        headers: dict[str, str] = {}
        for key in keys:
            name = column_key(str(key))
            if name not in self._by_name:
                allowed = ", ".join(c.name for c in self.columns)
                return RowProblem(str(key), f"unknown column (columns are: {allowed})")
            if name in headers:
                return RowProblem(str(key), f"column given twice (as {headers[name]!r} too)")
            headers[name] = str(key)
        steps = tuple(
            _Step(headers.get(c.name), c, PARSERS[c.kind])
            for c in self.columns
            if c.name in headers or c.required
        )
        return _Plan(headers, steps)


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return (
            f"line {self.line}" + (f", {self.column}" if self.column else "") + f": {self.message}"
        )


def refuse(errors: list[RowError], what: str, *, stopped: bool = False) -> ValidationError:
    """One error for the whole file: the first bad row in the message, all in ``data``."""
    errors = sorted(errors, key=lambda e: e.line)
    first = errors[0]
    message = f"{what} refused, nothing imported: {first}"
    if len(errors) > 1:
        others = ", ".join(str(e.line) for e in errors[1:6])
        more = ", …" if len(errors) > 6 else ""
        message += f" (and {len(errors) - 1} more bad row(s): line {others}{more})"
    if stopped:
        message += f"; checking stopped after {len(errors)} bad rows"
    return ValidationError(
        message,
        line=first.line,
        field=first.column,
        errors=[
            {"line": e.line, "field": e.column, "message": e.message} for e in errors[:MAX_REPORTED]
        ],
        error_count=len(errors),
    )
