"""Usage records: staged imports, rating, listing and deletion (SPEC §2, §12).

A usage file is imported all or nothing, however large it is and whatever happens
to the daemon or to the client on the way:

1. :func:`begin_import` opens a stage (:mod:`billingd.services.staging`);
2. :func:`stage_rows` validates and rates one chunk of rows and stores it in
   :class:`UsageImportRow`: committed, but invisible to billing;
3. :func:`commit_import` checks the whole file against itself and the stored records
   and moves every new row into :class:`UsageRecord` in ONE transaction.

A refused chunk or commit discards its stage; a stage left behind is never applied.
:func:`import_usage` does the three steps in one transaction, for the rows of one call.

An ``external_id`` is unique per client: the same record again (same content) is a
duplicate and skipped, in the same file too; other content under the same id is a
conflict that refuses the file, never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import peewee

from billingd.db.bulk import NULL, copy_text, found, insert_rows
from billingd.db.connection import is_postgres, write_transaction
from billingd.db.models import (
    Client,
    Contract,
    Enterprise,
    Invoice,
    UsageImport,
    UsageImportRow,
    UsageRecord,
    utcnow,
)
from billingd.domain.periods import local_midnight_utc
from billingd.domain.usage_rows import RECORD, RowError, UsageRow, validate_row
from billingd.errors import Conflict, NotFound, RuleViolation, ValidationError
from billingd.plugins import PluginError
from billingd.services import staging, usage_csv
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.import_rows import RowError as ImportRowError
from billingd.services.import_rows import refuse
from billingd.views import plain

MAX_BATCH = 5000
"""Rows per call: of ``usage.import``, and of each chunk of a staged import."""
MAX_TEXT_LINES = 50_000
"""Lines per chunk of CSV text (``usage.import_rows`` with ``csv``; the frame bounds it too)."""
KIND = "usage"  # the stages of usage imports (``billingd.services.staging``)
MAX_LIST = 10_000
WHAT = "usage import"

CONTENT = (*RECORD, "contract_id")
"""What makes two records with the same client and external id the same record."""
STORED = (
    UsageRecord.client,
    UsageRecord.occurred_at,
    UsageRecord.destination,
    UsageRecord.destination_group,
    UsageRecord.quantity,
    UsageRecord.unit,
    UsageRecord.amount,
    UsageRecord.external_id,
    UsageRecord.contract,
)
STAGED = (
    UsageImportRow.client_id,
    UsageImportRow.occurred_at,
    UsageImportRow.destination,
    UsageImportRow.destination_group,
    UsageImportRow.quantity,
    UsageImportRow.unit,
    UsageImportRow.amount,
    UsageImportRow.external_id,
    UsageImportRow.contract_id,
)
"""The staged columns in the order of ``STORED``: copied as they are on commit."""
STAGE_FIELDS = (UsageImportRow.usage_import, UsageImportRow.line, *STAGED)
USAGE_FIELDS = (
    "id",
    "client_id",
    *RECORD,
    "external_id",
    "contract_id",
    "invoice_id",
    "reseller_invoice_id",
    "imported_at",
)


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    client_ids: set[int] = field(default_factory=set)


# -- one call ---------------------------------------------------------------------------


def import_usage(
    ctx: ServiceContext, rows: Iterable[tuple[int, dict[str, Any]]], *, source: str = ""
) -> ImportResult:
    """Validate every row, then write them all in one transaction; any bad row writes nothing.

    A record whose client already has its ``external_id`` with the same content is a
    duplicate and skipped (importing twice is a no-op); with other content it is a
    conflict and refuses everything. Unrated rows are priced by the ``rate_usage`` hook.
    """
    with write_transaction():
        stage = UsageImport.create(token=secrets.token_hex(16), actor=ctx.actor, source=source)
        stage.rows = _stage(ctx, stage, rows)
        return _commit(ctx, stage)


# -- a staged import, chunk by chunk ----------------------------------------------------


def begin_import(ctx: ServiceContext, *, source: str = "") -> str:
    """Open a staged usage import (:func:`billingd.services.staging.begin`)."""
    return staging.begin(ctx, KIND, source)


def stage_rows(ctx: ServiceContext, token: str, rows: Iterable[tuple[int, dict[str, Any]]]) -> int:
    """Validate, rate and stage one chunk; return the rows staged so far.

    A refused chunk discards the whole import: the file is refused.
    """
    return _stage_chunk(ctx, token, lambda stage: _stage(ctx, stage, rows))


def stage_text(
    ctx: ServiceContext, token: str, header: Sequence[str], text: str, first_line: int
) -> int:
    """:func:`stage_rows` for a chunk of a CSV file as its text: whole lines under
    ``header`` (the file's columns), the first of them line ``first_line`` of the file.

    Plain rows take the quick path (:mod:`billingd.services.usage_csv`); a chunk with
    any other row is checked row by row, with the same errors as :func:`stage_rows`.
    """
    if usage_csv.line_count(text) > MAX_TEXT_LINES:
        raise ValidationError(
            f"at most {MAX_TEXT_LINES} lines per call; send smaller chunks", field="csv"
        )
    return _stage_chunk(
        ctx, token, lambda stage: _stage_csv(ctx, stage, tuple(header), text, first_line)
    )


def _stage_chunk(ctx: ServiceContext, token: str, add: Callable[[UsageImport], int]) -> int:
    """Stage one chunk in its own transaction (``add`` checks and stores its rows)."""
    with staging.discarded_when_refused(ctx, token), write_transaction():
        stage = staging.open_stage(ctx, token, KIND)
        stage.rows += add(stage)
        stage.touched_at = utcnow()
        stage.save()
        return stage.rows


def commit_import(ctx: ServiceContext, token: str) -> ImportResult:
    """Store every staged row in one transaction (or none, when the file is refused)."""
    with staging.discarded_when_refused(ctx, token), write_transaction():
        return _commit(ctx, staging.open_stage(ctx, token, KIND))


# -- staging: every row checked, rated, stored aside ------------------------------------


def _stage(
    ctx: ServiceContext,
    stage: UsageImport,
    rows: Iterable[tuple[int, Any]],
    limit: int | None = MAX_BATCH,
) -> int:
    """Check and rate one chunk, then stage it; a bad row refuses the chunk, naming every
    bad line (and column) of it."""
    checked: list[UsageRow] = []
    errors: list[ImportRowError] = []
    for count, (line, raw) in enumerate(rows, start=1):
        if limit is not None and count > limit:
            raise ValidationError(
                f"at most {MAX_BATCH} records per call; send batches", field="records"
            )
        try:
            checked.append(validate_row(line, raw))
        except RowError as exc:
            errors.append(ImportRowError(exc.line, exc.field, exc.reason))
    errors += _reference_errors(checked)
    bad = {e.line for e in errors}
    amounts = [row.amount for row in checked]
    for index, row in enumerate(checked):
        if row.amount is None and row.line not in bad:
            try:
                amounts[index] = _rate(ctx, row)
            except PluginError as exc:
                errors.append(ImportRowError(row.line, "amount", exc.message))
    if errors:
        raise refuse(errors, WHAT)
    values = [_staged_values(stage.id, r, a) for r, a in zip(checked, amounts, strict=True)]
    insert_rows(UsageImportRow, STAGE_FIELDS, values)
    return len(values)


def _stage_csv(
    ctx: ServiceContext, stage: UsageImport, header: tuple[str, ...], text: str, first_line: int
) -> int:
    """Stage a chunk of CSV text: plain rows as they are, else row by row."""
    rows = usage_csv.plain_rows(header, text)
    shape = usage_csv.layout(header)
    if rows is not None and shape is not None:
        try:
            with UsageImportRow._meta.database.atomic():  # undone alone when refused
                _stage_plain(stage.id, first_line, header, shape, rows)
            return len(rows)
        except _NamesUnknown:
            pass
    try:  # a chunk is bounded: its rows are read first, a misshapen one refuses it
        parsed = list(usage_csv.csv_rows(header, text, first_line))
    except RowError as exc:
        raise refuse([ImportRowError(exc.line, exc.field, exc.reason)], WHAT) from None
    return _stage(ctx, stage, parsed, limit=None)


class _NamesUnknown(Exception):
    """Plain rows name a client or contract that is not there (or not theirs)."""


def _stage_plain(
    stage_id: int,
    first_line: int,
    header: tuple[str, ...],
    shape: usage_csv.Layout,
    rows: list[tuple[str, ...]],
) -> None:
    """Stage plain rows, then check in one query what they name; ``_NamesUnknown`` when
    a client or contract is not there: the rows are then checked one by one, naming the
    bad ones."""
    database = UsageImportRow._meta.database
    last = database.execute_sql(f'SELECT MAX("id") FROM "{STAGE_TABLE}"').fetchone()[0]
    if is_postgres():
        copy_text(UsageImportRow, STAGE_FIELDS, _plain_copy(stage_id, first_line, shape, rows))
    else:
        cursor = database.cursor()
        whole = len(rows) - len(rows) % PLAIN_ROWS
        groups = (
            (
                stage_id,
                first_line + start,
                *itertools.chain.from_iterable(rows[start : start + PLAIN_ROWS]),
            )
            for start in range(0, whole, PLAIN_ROWS)
        )
        cursor.executemany(_plain_insert(header, PLAIN_ROWS), groups)
        if whole < len(rows):
            rest = itertools.chain.from_iterable(rows[whole:])
            cursor.execute(
                _plain_insert(header, len(rows) - whole), (stage_id, first_line + whole, *rest)
            )
    unknown = _UNKNOWN_NAMES.format(p=database.param)
    if database.execute_sql(unknown, (last or 0, stage_id)).fetchone():
        raise _NamesUnknown


PLAIN_ROWS = 32
"""Plain rows per INSERT statement on SQLite: a fifth less work than one a row."""
STAGE_TABLE = UsageImportRow._meta.table_name
_UNKNOWN_NAMES = (
    f'SELECT 1 FROM "{STAGE_TABLE}" AS s WHERE s."id" > {{p}} AND s."usage_import_id" = {{p}} '
    f'AND (NOT EXISTS (SELECT 1 FROM "{Client._meta.table_name}" AS c '
    'WHERE c."id" = s."client_id") OR s."contract_id" IS NOT NULL AND NOT EXISTS '
    f'(SELECT 1 FROM "{Contract._meta.table_name}" AS k '
    'WHERE k."id" = s."contract_id" AND k."client_id" = s."client_id")) LIMIT 1'
)
"""A row staged after the given id naming a client that is not there, or a contract
that is not its client's (the rows just staged: the largest id before is read first);
``{p}``: the database's parameter mark."""


def _references(client_ids: set[int], contract_ids: set[int]) -> tuple[dict[int, Any], ...]:
    """The clients of ``client_ids`` that exist, and the client of each contract found."""
    clients = found(Client.select(Client.id), Client.id, client_ids)
    owners = found(Contract.select(Contract.id, Contract.client), Contract.id, contract_ids)
    return clients, owners


@functools.lru_cache(maxsize=64)
def _plain_insert(header: tuple[str, ...], rows: int) -> str:
    """SQLite: the INSERT of ``rows`` plain rows under ``header``, forming each stored
    value from the matched text. Its parameters: the stage, the first row's line (the
    others' follow), then each row's groups of its match in order."""
    given = {
        "client": ("client_id", "{}"),
        "occurred_at": ("occurred_at", "{} || ' ' || {}"),
        "external_id": ("external_id", "nullif({}, '')"),
        "contract": ("contract_id", "nullif({}, '')"),
    }
    left_out = {"destination": "''", "unit": "''", "external_id": "NULL", "contract": "NULL"}
    columns, forms = ["usage_import_id", "line"], []
    for column in header:
        name, form = given.get(column, (column, "{}"))
        columns.append(name)
        forms.append(form)
    for column, form in left_out.items():
        if column not in header:
            columns.append(given.get(column, (column,))[0])
            forms.append(form)
    width = sum(form.count("{}") for form in forms)  # groups of a match
    template = ", ".join(forms)
    values = []
    for row in range(rows):
        marks = (f"?{3 + row * width + group}" for group in range(width))
        values.append(f"(?1, ?2 + {row}, {template.format(*marks)})")
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{STAGE_TABLE}" ({names}) VALUES {", ".join(values)}'


def _plain_copy(
    stage_id: int, first_line: int, shape: usage_csv.Layout, rows: list[tuple[str, ...]]
) -> str:
    """PostgreSQL: plain rows as COPY text in the order of ``STAGE_FIELDS`` (their text
    holds nothing COPY escapes; an empty external id or contract is NULL)."""
    at = shape.group
    client, day, group = at["client"], at["occurred_at"], at["destination_group"]
    quantity, amount = at["quantity"], at["amount"]
    absent = len(rows[0]) if rows else 0  # the index of an empty text added to each row
    destination, unit = at.get("destination", absent), at.get("unit", absent)
    external, contract = at.get("external_id", absent), at.get("contract", absent)
    return "".join(
        f"{stage_id}\t{first_line + number}\t{row[client]}\t{row[day]} {row[day + 1]}\t"
        f"{row[destination]}\t{row[group]}\t{row[quantity]}\t{row[unit]}\t{row[amount]}\t"
        f"{row[external] or NULL}\t{row[contract] or NULL}\n"
        for number, row in enumerate((*row, "") for row in rows)
    )


def _reference_errors(rows: list[UsageRow]) -> list[ImportRowError]:
    """Rows naming a client that does not exist, or a contract that is not their client's."""
    client_ids = {row.client_id for row in rows}
    contract_ids = {row.contract_id for row in rows if row.contract_id is not None}
    clients, owners = _references(client_ids, contract_ids)
    errors = []
    for row in rows:
        if row.client_id not in clients:
            errors.append(ImportRowError(row.line, "client", f"no client with id {row.client_id}"))
        elif row.contract_id is not None and owners.get(row.contract_id) != row.client_id:
            message = (
                f"contract {row.contract_id} is not a contract of client {row.client_id}"
                if row.contract_id in owners
                else f"no contract with id {row.contract_id}"
            )
            errors.append(ImportRowError(row.line, "contract", message))
    return errors


def _rate(ctx: ServiceContext, row: UsageRow) -> Decimal:
    """An unrated row's amount from the ``rate_usage`` plugin hook."""
    amount = ctx.plugins.rate_usage(_row_dict(row)) if ctx.plugins else None
    if amount is None:
        raise PluginError("missing and no plugin rated the record")
    if amount < 0:
        raise PluginError(f"the rating plugin priced the record at {amount}: below zero")
    return amount


def _row_dict(row: UsageRow) -> dict[str, Any]:
    return {
        "client_id": row.client_id,
        "occurred_at": row.occurred_at.isoformat(),
        "destination": row.destination,
        "destination_group": row.destination_group,
        "quantity": str(row.quantity),
        "unit": row.unit,
        "contract_id": row.contract_id,
    }


def _staged_values(stage_id: int, row: UsageRow, amount: Decimal) -> tuple[Any, ...]:
    """A row's values in the order of ``STAGE_FIELDS``, as stored: the decimals as their
    text (``DecimalTextField``); ids, texts and times are the driver's as they are."""
    decimal_text = UsageImportRow.amount.db_value
    return (
        stage_id,
        row.line,
        row.client_id,
        row.occurred_at,
        row.destination,
        row.destination_group,
        decimal_text(row.quantity),
        row.unit,
        decimal_text(amount),
        row.external_id,
        row.contract_id,
    )


# -- commit: one transaction for the whole file -----------------------------------------


def _commit(ctx: ServiceContext, stage: UsageImport) -> ImportResult:
    """Refuse the file on any conflict; else store each new row once and drop the stage.

    Most files repeat no external id and have none stored: every staged row is stored
    at once, the unique index of (client, external id) checking them on the way. Only
    when it refuses one (the statement undone alone, in a savepoint) are the file's
    duplicates and conflicts sorted out, row by row where they are.
    """
    staged = UsageImportRow.usage_import == stage.id
    try:
        with UsageRecord._meta.database.atomic():
            imported = _store(_new_rows(stage, repeats=False, known=False))
    except peewee.IntegrityError:  # some external id is taken (or a client is gone)
        imported = None
    if imported is None:
        if UsageImportRow.select().where(staged).count() != stage.rows:
            _lost_rows(stage)
        in_file, repeats = _conflicts_in_file(stage)
        with_stored, known = _conflicts_with_stored(stage)
        if in_file or with_stored:
            raise refuse(in_file + with_stored, WHAT)
        imported = _store(_new_rows(stage, repeats=repeats, known=known))
    elif imported != stage.rows:  # never half a file
        _lost_rows(stage)
    client_ids = {
        cid
        for (cid,) in UsageImportRow.select(UsageImportRow.client_id)
        .where(staged)
        .distinct()
        .tuples()
    }
    result = ImportResult(imported, stage.rows - imported, client_ids)
    staging.drop(stage.id)
    if result.imported:
        record_audit(
            ctx,
            "usage.imported",
            records=result.imported,
            duplicates=result.duplicates,
            clients=sorted(result.client_ids),
            source=stage.source,
        )
    return result


def _lost_rows(stage: UsageImport) -> None:
    raise Conflict(f"usage import {stage.token} lost staged rows; import the file again")


def _store(rows: peewee.SelectQuery) -> int:
    """Insert the staged ``rows`` as usage records; how many."""
    insert = UsageRecord.insert_from(rows, [*STORED, UsageRecord.imported_at])
    return insert.as_rowcount().execute()


def _new_rows(stage: UsageImport, *, repeats: bool, known: bool) -> peewee.SelectQuery:
    """The staged rows to store, each client's together in time order: every row
    without an external id, and the first row of each external id its client does not
    have yet. Stored so, a client's records share pages: a run reads and claims a
    batch of clients' records from a few pages, not from every page of the month.

    ``repeats``: some external id is in the file more than once; ``known``: some is stored
    already. Without them every staged row is new, and its tests are left out.
    """
    stored = UsageRecord.select(peewee.SQL("1")).where(
        (UsageRecord.client == UsageImportRow.client_id)
        & (UsageRecord.external_id == UsageImportRow.external_id)
    )
    now = peewee.Value(utcnow(), converter=UsageRecord.imported_at.db_value)
    condition = UsageImportRow.usage_import == stage.id
    if repeats:  # the stage has no index: its first rows found by one sort, not a probe each
        first = (
            UsageImportRow.select(peewee.fn.MIN(UsageImportRow.id))
            .where(condition & UsageImportRow.external_id.is_null(False))
            .group_by(UsageImportRow.client_id, UsageImportRow.external_id)
        )
        condition &= UsageImportRow.external_id.is_null() | UsageImportRow.id.in_(first)
    if known:  # a row without an external id equals no stored one (NULL = NULL is not true)
        condition &= ~peewee.fn.EXISTS(stored)
    order = (UsageImportRow.client_id, UsageImportRow.occurred_at, UsageImportRow.id)
    return UsageImportRow.select(*STAGED, now).where(condition).order_by(*order)


def _differences(mine: tuple[Any, ...], theirs: tuple[Any, ...]) -> list[str]:
    """The content fields (``CONTENT``) in which two records differ."""
    return [name for name, a, b in zip(CONTENT, mine, theirs, strict=True) if a != b]


def _conflict(
    line: int, client_id: int, external_id: str, where: str, fields: list[str]
) -> ImportRowError:
    return ImportRowError(
        line,
        fields[0],
        f"conflict: external_id {external_id!r} of client {client_id} is {where} with "
        f"other {', '.join(fields)}",
    )


STAGED_CONTENT = tuple(getattr(UsageImportRow, name) for name in CONTENT)
STORED_CONTENT = tuple(getattr(UsageRecord, name) for name in CONTENT)


def _conflicts_in_file(stage: UsageImport) -> tuple[list[ImportRowError], bool]:
    """Rows of the file repeating an earlier row's external id with other content; and
    whether any row repeats one."""
    staged = UsageImportRow.usage_import == stage.id
    repeated = (
        UsageImportRow.select(UsageImportRow.client_id, UsageImportRow.external_id)
        .where(staged & UsageImportRow.external_id.is_null(False))
        .group_by(UsageImportRow.client_id, UsageImportRow.external_id)
        .having(peewee.fn.COUNT(UsageImportRow.id) > 1)
        .alias("repeated")
    )
    rows = (
        UsageImportRow.select(
            UsageImportRow.client_id,
            UsageImportRow.external_id,
            UsageImportRow.line,
            *STAGED_CONTENT,
        )
        .join(
            repeated,
            on=(repeated.c.client_id == UsageImportRow.client_id)
            & (repeated.c.external_id == UsageImportRow.external_id),
        )
        .where(staged)
        .order_by(UsageImportRow.client_id, UsageImportRow.external_id, UsageImportRow.id)
        .tuples()
    )
    errors, repeats = [], False
    for (client_id, external_id), group in itertools.groupby(rows, key=lambda r: r[:2]):
        (_, _, first_line, *first), *later = group
        repeats = True
        for _, _, line, *content in later:
            differ = _differences(tuple(content), tuple(first))
            if differ:
                where = f"on line {first_line}"
                errors.append(_conflict(line, client_id, external_id, where, differ))
    return errors, repeats


def _conflicts_with_stored(stage: UsageImport) -> tuple[list[ImportRowError], bool]:
    """Rows whose client already has their external id, stored with other content; and
    whether any row's external id is stored already.

    A row stored as the same text is the same record: only the others are read, and
    compared as values (``0.10`` and ``0.1`` are the same quantity)."""
    pairs = (
        UsageImportRow.select(
            UsageImportRow.line,
            UsageImportRow.client_id,
            UsageImportRow.external_id,
            UsageRecord.id,
            *STAGED_CONTENT,
            *STORED_CONTENT,
        )
        .join(
            UsageRecord,
            on=(UsageRecord.client == UsageImportRow.client_id)
            & (UsageRecord.external_id == UsageImportRow.external_id),
        )
        .where(UsageImportRow.usage_import == stage.id)
    )
    if not pairs.exists():
        return [], False
    distinct = "IS DISTINCT FROM" if is_postgres() else "IS NOT"  # NULL-safe: a contract
    other_text = functools.reduce(
        operator.or_,
        (
            peewee.Expression(mine, distinct, theirs)
            for mine, theirs in zip(STAGED_CONTENT, STORED_CONTENT, strict=True)
        ),
    )
    width = len(CONTENT)
    errors = []
    for line, client_id, external_id, record_id, *content in pairs.where(other_text).tuples():
        differ = _differences(tuple(content[:width]), tuple(content[width:]))
        if differ:
            where = f"stored already (usage record {record_id})"
            errors.append(_conflict(line, client_id, external_id, where, differ))
    return errors, True


# -- listing and deleting ---------------------------------------------------------------


def usage_fields(record: UsageRecord) -> dict[str, Any]:
    """A usage record as the socket returns it (and the audit trail keeps it)."""
    return {name: plain(getattr(record, name)) for name in USAGE_FIELDS}


def list_usage(
    client_id: int,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    unbilled: bool = False,
    external_id: str | None = None,
    limit: int = 200,
) -> list[UsageRecord]:
    """A client's usage records by time of use; ``start``..``end`` are whole days in the
    enterprise's timezone (R-TIME-2). ``unbilled``: on no invoice yet, neither the
    client's nor its reseller's (the records :func:`delete_usage` accepts)."""
    if limit > MAX_LIST:
        raise ValidationError(f"limit must be at most {MAX_LIST}", field="limit")
    client = Client.get_or_none(Client.id == client_id)
    if client is None:
        raise NotFound(f"no client with id {client_id}", client=client_id)
    condition = UsageRecord.client == client_id
    if start is not None and end is not None and end < start:
        raise ValidationError(f"the period ends ({end}) before it starts ({start})", field="to")
    if start is not None or end is not None:
        timezone = Enterprise.get_by_id(client.enterprise_id).timezone
        lo = _midnight(start, timezone)
        hi = _midnight(end + dt.timedelta(days=1), timezone) if end and end < dt.date.max else None
        if lo is not None:
            condition &= UsageRecord.occurred_at >= lo
        if hi is not None:
            condition &= UsageRecord.occurred_at < hi
    if unbilled:
        condition &= UsageRecord.invoice.is_null() & UsageRecord.reseller_invoice.is_null()
    if external_id is not None:
        condition &= UsageRecord.external_id == external_id
    query = UsageRecord.select().where(condition)
    return list(query.order_by(UsageRecord.occurred_at, UsageRecord.id).limit(limit))


def _midnight(day: dt.date | None, timezone: str) -> dt.datetime | None:
    """Where ``day`` begins in UTC; None (no bound) for no day, or one at the calendar's edge."""
    try:
        return local_midnight_utc(day, timezone) if day is not None else None
    except OverflowError:
        return None


def delete_usage(ctx: ServiceContext, record_id: int) -> UsageRecord:
    """Delete a usage record that is on no invoice yet, with an audit event; a billed one
    is refused (void its invoice first: that returns the record to unbilled)."""
    with write_transaction():
        query = UsageRecord.select().where(UsageRecord.id == record_id)
        record = (query.for_update() if is_postgres() else query).first()
        if record is None:
            raise NotFound(f"no usage record with id {record_id}", id=record_id)
        invoices = [i for i in (record.invoice_id, record.reseller_invoice_id) if i is not None]
        if invoices:
            numbers = ", ".join(
                str(number or f"id {invoice_id}")
                for invoice_id, number in Invoice.select(Invoice.id, Invoice.number)
                .where(Invoice.id.in_(invoices))
                .tuples()
            )
            raise RuleViolation(
                "R-INV-2",
                f"usage record {record_id} is billed on invoice {numbers} and cannot be "
                "deleted; void the invoice first",
                id=record_id,
            )
        UsageRecord.delete().where(UsageRecord.id == record_id).execute()
        record_audit(
            ctx,
            "usage.deleted",
            client_id=record.client_id,
            subject=record,
            record=usage_fields(record),
        )
    return record
