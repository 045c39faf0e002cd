"""Bulk import of clients and contracts from CSV rows (SPEC §2, seed 004).

A file is imported all or nothing, whatever its size. Every row is checked by the
rules of ``billingctl client add`` / ``contract add`` (:mod:`import_rows`,
:mod:`import_writers`); one bad row anywhere refuses the whole file with an error
naming its line and column, and nothing is written. Good files are written in
batches of ``BATCH_ROWS`` with bulk inserts, inside one transaction.

Two ways in: :func:`import_rows` takes the rows of one call (at most ``MAX_ROWS``);
a file of any size is staged chunk by chunk (:func:`begin`, :func:`stage`,
:func:`commit`, like usage files, :mod:`billingd.services.staging`): each chunk is
checked as it arrives, and the commit writes the whole file in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from billingd.db.bulk import insert_rows
from billingd.db.connection import write_transaction
from billingd.db.models import ImportRow, UsageImport, utcnow
from billingd.errors import ValidationError
from billingd.services import staging
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.import_rows import (
    CLIENT_COLUMNS,
    CONTRACT_COLUMNS,
    MAX_REPORTED,
    Column,
    ParsedRow,
    RowError,
    RowParser,
    RowProblem,
    refuse,
)
from billingd.services.import_writers import BatchChecks, Written, write_clients, write_contracts
from billingd.services.parties import new_client_values
from billingd.services.progress import Progress

MAX_ROWS = 20_000
"""Rows of one ``client.import`` / ``contract.import`` call; larger files are staged."""
MAX_CHUNK = 10_000
"""Rows per staged chunk (``*.import_rows``)."""
BATCH_ROWS = 2000
"""Rows written per bulk insert."""


@dataclass(frozen=True)
class Kind:
    """What is imported: clients or contracts."""

    name: str
    columns: tuple[Column, ...]
    check: Callable[[dict[str, Any]], dict[str, Any]]  # a row's rules needing no lookup
    write: Callable[..., Written | None]  # (ctx, rows, checks, *, insert)
    origin: dict[str, str]  # values a row takes unless it says otherwise

    @property
    def what(self) -> str:
        return f"{self.name} import"

    def column_of(self) -> dict[str, str]:
        """Service keyword (or an ``add`` parameter's name) -> column name."""
        names = {c.param: c.name for c in self.columns}
        names.update({c.name.replace("-", "_"): c.name for c in self.columns})
        return names


KINDS = {
    "client": Kind("client", CLIENT_COLUMNS, new_client_values, write_clients, {}),
    # a contract's rules need its owner: checked by write_contracts; imported (R-RUN-8)
    "contract": Kind("contract", CONTRACT_COLUMNS, dict, write_contracts, {"origin": "imported"}),
}


class _Checker:
    """Checks a file's rows one by one, collecting every bad one (up to MAX_REPORTED)."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.parser = RowParser(kind.columns)
        self.checks = BatchChecks(kind.column_of())

    @property
    def full(self) -> bool:
        return len(self.checks.errors) >= MAX_REPORTED

    def row(self, line: int, raw: Any) -> ParsedRow | None:
        try:
            parsed = self.parser.parse(line, raw)
        except RowProblem as exc:
            self.checks.errors.append(RowError(line, exc.column, exc.message))
            return None
        try:
            values = self.kind.check({**self.kind.origin, **parsed.values})
        except ValidationError as exc:
            self.checks.refused(parsed, exc)
            return None
        return ParsedRow(line, values, parsed.headers)

    def refuse_if_bad(self) -> None:
        if self.checks.errors:
            raise refuse(self.checks.errors, self.kind.what, stopped=self.full)

    def batch(self, rows: list[tuple[int, Any]]) -> list[ParsedRow]:
        """The good rows of a batch, checked; the bad ones are noted."""
        return [p for line, raw in rows if (p := self.row(line, raw)) is not None]


def _write(
    ctx: ServiceContext,
    checker: _Checker,
    batches: Iterable[tuple[int, list[ParsedRow]]],
    total: int,
    source: str,
) -> Written:
    """Inside the caller's transaction: write every batch of checked rows (``(rows in
    the batch, the good ones)``); refuse the file (the caller rolls back) when any row
    is bad, after checking them all."""
    kind = checker.kind
    progress = Progress(
        ctx, "import.progress", total, kind=kind.name, source=source, actor=ctx.actor
    )
    progress.update(0)
    done = 0
    imported = Written([], set())
    for count, rows in batches:
        written = kind.write(ctx, rows, checker.checks, insert=not checker.checks.errors)
        if written is not None:
            imported.ids += written.ids
            imported.client_ids |= written.client_ids
        done += count
        progress.update(done)
        if checker.full:
            break
    checker.refuse_if_bad()
    if imported.ids:
        record_audit(ctx, f"{kind.name}s.imported", rows=len(imported.ids), source=source)
        ctx.emit(
            f"{kind.name}s.imported",
            {
                "imported": len(imported.ids),
                "source": source,
                "client_ids": sorted(imported.client_ids),
            },
        )
    return imported


def _checked(
    checker: _Checker, rows: list[tuple[int, Any]]
) -> Iterator[tuple[int, list[ParsedRow]]]:
    for start in range(0, len(rows), BATCH_ROWS):
        batch = rows[start : start + BATCH_ROWS]
        yield len(batch), checker.batch(batch)


# -- one call -------------------------------------------------------------------------


def import_rows(
    ctx: ServiceContext, kind: str, rows: Iterable[tuple[int, Any]], *, source: str = ""
) -> Written:
    """Check every ``(line, row)`` of one call, then write them all in one transaction."""
    rows = list(rows)
    if len(rows) > MAX_ROWS:
        raise ValidationError(
            f"{kind} import: at most {MAX_ROWS} rows per call; send a larger file in chunks "
            f"({kind}.import_begin)",
            field="rows",
        )
    if not rows:
        return Written([], set())
    checker = _Checker(KINDS[kind])
    with write_transaction():
        return _write(ctx, checker, _checked(checker, rows), len(rows), source)


def import_clients(
    ctx: ServiceContext, rows: Iterable[tuple[int, Any]], *, source: str = ""
) -> list[int]:
    """Create one client (with its default bill group) per ``(line, row)``; all or nothing.
    The new clients' ids, in file order."""
    return import_rows(ctx, "client", rows, source=source).ids


def import_contracts(
    ctx: ServiceContext, rows: Iterable[tuple[int, Any]], *, source: str = ""
) -> list[int]:
    """Create one contract per ``(line, row)``, origin ``imported`` unless the row says
    otherwise (R-RUN-8); all or nothing. The new contracts' ids, in file order."""
    return import_rows(ctx, "contract", rows, source=source).ids


# -- a file staged chunk by chunk -----------------------------------------------------


def begin(ctx: ServiceContext, kind: str, *, source: str = "") -> str:
    """Open a staged import of ``kind`` (client or contract); its token."""
    return staging.begin(ctx, kind, source)


def stage(ctx: ServiceContext, token: str, kind: str, rows: Iterable[tuple[int, Any]]) -> int:
    """Check one chunk's rows and stage them; the rows staged so far. A bad row refuses
    the chunk, naming every bad line of it, and discards the import."""
    rows = list(rows)
    if len(rows) > MAX_CHUNK:
        raise ValidationError(
            f"at most {MAX_CHUNK} rows per chunk; send smaller ones", field="rows"
        )
    with staging.discarded_when_refused(ctx, token), write_transaction():
        stage = staging.open_stage(ctx, token, kind)
        checker = _Checker(KINDS[kind])
        checked = checker.batch(rows)
        checker.refuse_if_bad()
        fields = (ImportRow.usage_import, ImportRow.line, ImportRow.data)
        insert_rows(ImportRow, fields, [(stage.id, row.line, _encoded(row)) for row in checked])
        stage.rows += len(rows)
        stage.touched_at = utcnow()
        stage.save()
        return stage.rows


def commit(ctx: ServiceContext, token: str, kind: str) -> Written:
    """Write every staged row in one transaction, or none when the file is refused."""
    with staging.discarded_when_refused(ctx, token), write_transaction():
        stage = staging.open_stage(ctx, token, kind)
        checker = _Checker(KINDS[kind])
        imported = _write(ctx, checker, _staged(stage, checker.kind), stage.rows, stage.source)
        staging.drop(stage.id)
        return imported


def _encoded(row: ParsedRow) -> str:
    """A checked row as staged: its values (decimals and dates as text), and its headers
    unless each is spelled as its column's name (the usual file: most of the row)."""
    spelled = any(key != name for name, key in row.headers.items())
    staged = [row.values, row.headers] if spelled else [row.values]
    return orjson.dumps(staged, default=str).decode()


DECODERS: dict[str, Callable[[Any], Any]] = {"decimal": Decimal, "date": dt.date.fromisoformat}


def _staged(stage: UsageImport, kind: Kind) -> Iterator[tuple[int, list[ParsedRow]]]:
    """A stage's checked rows in file order, ``BATCH_ROWS`` at a time (memory stays
    flat): ``(rows, the rows)``, as :func:`_write` takes them."""
    decoders = {c.param: DECODERS[c.kind] for c in kind.columns if c.kind in DECODERS}
    database = ImportRow._meta.database
    sql = (
        f'SELECT "id", "line", "data" FROM "{ImportRow._meta.table_name}" '
        # "+ 0" keeps the stage's index out: read by the primary key in id (file) order,
        # not the whole stage sorted again for every batch
        f'WHERE "usage_import_id" + 0 = {database.param} AND "id" > {database.param} '
        f'ORDER BY "id" LIMIT {BATCH_ROWS}'
    )
    after = 0
    while True:
        batch = database.execute_sql(sql, (stage.id, after)).fetchall()
        if not batch:
            return
        after = batch[-1][0]
        rows = []
        for _, line, data in batch:
            values, *spelled = orjson.loads(data)
            for name, decode in decoders.items():
                if name in values:
                    values[name] = decode(values[name])
            rows.append(ParsedRow(line, values, spelled[0] if spelled else {}))
        yield len(rows), rows
