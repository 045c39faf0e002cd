"""Bulk import of clients and contracts from CSV rows (SPEC §2, seed 004).

The header names are the ``billingctl client add`` / ``contract add`` option names
(``tax-id`` and ``tax_id`` both work). Every row is parsed first; then all rows are
written in one transaction through :func:`parties.add_client` and
:func:`contracts.add_contract`, so their rules apply unchanged. One bad row refuses
the whole file with an error naming its line and column, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import peewee

from billingd.db.connection import write_transaction
from billingd.db.models import BillGroup, Client, Contract, Enterprise, Reseller
from billingd.domain import party_details
from billingd.domain.bounds import (
    AMOUNT,
    DATES,
    ID_NUMBERS,
    INTERVAL,
    QUANTITY,
    TAX_RATE,
    Bound,
    text_problem,
)
from billingd.errors import BillingError, ValidationError
from billingd.money import parse_decimal
from billingd.services import contracts, parties
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.progress import Progress

MAX_ROWS = 20_000
MAX_REPORTED = 50  # row errors carried in the error's data; the count covers all
TRUE_WORDS = frozenset(("true", "yes", "1"))
FALSE_WORDS = frozenset(("false", "no", "0", ""))


@dataclass(frozen=True, slots=True)
class Column:
    """One import column: its header name (an ``add`` option), service keyword, type, and
    the bound its ``add`` parameter declares (``billingd.control.params``)."""

    name: str
    param: str
    kind: str = "text"  # text | int | bool | decimal | date
    required: bool = False
    bound: Bound | None = None


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


def column_key(header: str) -> str:
    """The canonical column name of a header: ``Tax_ID`` -> ``tax-id``."""
    return header.strip().lower().replace("_", "-")


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
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


def parse_row(line: int, raw: Any, columns: tuple[Column, ...]) -> ParsedRow:
    """Type-check one row keyed by header names; raise RowProblem naming the column.

    An empty value means "not given" (the ``add`` command's default applies).
    """
    if not isinstance(raw, dict):
        raise RowProblem(None, "a row must be an object keyed by column names")
    by_name = {c.name: c for c in columns}
    headers: dict[str, str] = {}
    for key in raw:
        name = column_key(str(key))
        if name not in by_name:
            allowed = ", ".join(c.name for c in columns)
            raise RowProblem(str(key), f"unknown column (columns are: {allowed})")
        if name in headers:
            raise RowProblem(str(key), f"column given twice (as {headers[name]!r} too)")
        headers[name] = str(key)
    values: dict[str, Any] = {}
    for column in columns:
        value = raw.get(headers.get(column.name, column.name))
        if value is None or (isinstance(value, str) and not value.strip()):
            if column.required:
                raise RowProblem(headers.get(column.name, column.name), "is required")
            continue
        try:
            values[column.param] = PARSERS[column.kind](value)
        except ValueError as exc:
            raise RowProblem(headers[column.name], str(exc)) from None
        problem = column.bound.problem(values[column.param]) if column.bound else None
        if problem:
            raise RowProblem(headers[column.name], problem)
    return ParsedRow(line, values, headers)


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return (
            f"line {self.line}" + (f", {self.column}" if self.column else "") + f": {self.message}"
        )


def _refuse(errors: list[RowError], what: str, *, stopped: bool = False) -> ValidationError:
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


def _parse_all(
    rows: Iterable[tuple[int, Any]], columns: tuple[Column, ...], what: str
) -> list[ParsedRow]:
    parsed: list[ParsedRow] = []
    errors: list[RowError] = []
    for count, (line, raw) in enumerate(rows, start=1):
        if count > MAX_ROWS:
            raise ValidationError(
                f"{what}: at most {MAX_ROWS} rows per import; split the file", field="rows"
            )
        try:
            parsed.append(parse_row(line, raw, columns))
        except RowProblem as exc:
            errors.append(RowError(line, exc.column, exc.message))
    if errors:
        raise _refuse(errors, what)
    return parsed


def _missing_refs(
    parsed: list[ParsedRow], refs: dict[str, tuple[str, type[peewee.Model]]]
) -> list[RowError]:
    """Rows naming an id that does not exist: ``refs`` maps keyword -> (column, model)."""
    errors = []
    for param, (column, model) in refs.items():
        wanted = {row.values[param] for row in parsed if param in row.values}
        if not wanted:
            continue
        ids = sorted(wanted)
        found = {
            r.id
            for start in range(0, len(ids), 500)  # under SQLite's limit on variables
            for r in model.select(model.id).where(model.id.in_(ids[start : start + 500]))
        }
        label = model._meta.table_name.replace("_", " ")
        for row in parsed:
            value = row.values.get(param)
            if value is not None and value not in found:
                spelled = row.headers.get(column, column)
                errors.append(RowError(row.line, spelled, f"no {label} with id {value}"))
    return errors


def _write_all(
    parsed: list[ParsedRow],
    columns: tuple[Column, ...],
    refs: dict[str, tuple[str, type[peewee.Model]]],
    add: Callable[[dict[str, Any]], peewee.Model],
    what: str,
    progress: Progress,
) -> list[peewee.Model]:
    """Inside the caller's transaction: add every row, collecting errors by line.

    Each ``add`` runs in its own savepoint (nested ``write_transaction``), so a
    refused row leaves the transaction usable and the later rows are still checked.
    The caller's transaction is rolled back when anything was refused.
    """
    errors = _missing_refs(parsed, refs)
    bad_lines = {e.line for e in errors}
    # Errors of the add functions name their keyword; report the column instead.
    column_of = {c.param: c.name for c in columns}
    column_of.update({c.name.replace("-", "_"): c.name for c in columns})
    created = []
    stopped = False
    progress.update(0)
    for done, row in enumerate(parsed, start=1):
        progress.update(done)
        if len(errors) >= MAX_REPORTED:
            stopped = True
            break
        if row.line in bad_lines:
            continue
        try:
            created.append(add(row.values))
        except BillingError as exc:
            field = exc.data.get("field")
            column = column_of.get(field, field) if field else None
            spelled = row.headers.get(column, column) if column else None
            errors.append(RowError(row.line, spelled, exc.message))
        except peewee.IntegrityError as exc:
            errors.append(RowError(row.line, None, f"conflicts with existing data: {exc}"))
    if errors:
        raise _refuse(errors, what, stopped=stopped)
    return created


def _import(
    ctx: ServiceContext,
    rows: Iterable[tuple[int, Any]],
    source: str,
    kind: str,
    columns: tuple[Column, ...],
    refs: dict[str, tuple[str, type[peewee.Model]]],
    add: Callable[[dict[str, Any]], peewee.Model],
) -> list[Any]:
    """Parse every row, then add them all in one transaction with its audit event;
    ``import.progress`` events report the rows written so far."""
    what = f"{kind} import"
    parsed = _parse_all(rows, columns, what)
    if not parsed:
        return []
    progress = Progress(
        ctx, "import.progress", len(parsed), kind=kind, source=source, actor=ctx.actor
    )
    with write_transaction():
        created = _write_all(parsed, columns, refs, add, what, progress)
        record_audit(ctx, f"{kind}s.imported", rows=len(created), source=source)
    return created


def import_clients(
    ctx: ServiceContext, rows: Iterable[tuple[int, Any]], *, source: str = ""
) -> list[Client]:
    """Create one client (with its default bill group) per ``(line, row)``; all or nothing."""
    refs = {
        "enterprise_id": ("enterprise", Enterprise),
        "reseller_id": ("reseller", Reseller),
    }
    return _import(
        ctx, rows, source, "client", CLIENT_COLUMNS, refs, lambda v: parties.add_client(ctx, **v)
    )


def import_contracts(
    ctx: ServiceContext, rows: Iterable[tuple[int, Any]], *, source: str = ""
) -> list[Contract]:
    """Create one contract per ``(line, row)``, origin ``imported`` unless the row says
    otherwise (R-RUN-8); all or nothing."""
    refs = {
        "client_id": ("client", Client),
        "reseller_id": ("reseller", Reseller),
        "bill_group_id": ("bill-group", BillGroup),
    }

    def add(values: dict[str, Any]) -> Contract:
        return contracts.add_contract(ctx, **{"origin": "imported", **values})

    return _import(ctx, rows, source, "contract", CONTRACT_COLUMNS, refs, add)
