"""Writing many rows at once: ids reserved up front, one statement per batch.

Imports insert tens of thousands of rows; building each through the ORM costs far
more than the database's own work. Here a batch is plain tuples, already in the
column's stored form (:func:`stored_form`), sent with ``executemany`` (SQLite) or
``COPY`` (PostgreSQL). Ids are reserved first so that rows
referring to each other (a client and its default bill group) go in the same batch.
Call these inside a :func:`billingd.db.connection.write_transaction`.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import peewee

from billingd.db.connection import is_postgres

ID_CHUNK = 5000 if sqlite3.sqlite_version_info >= (3, 32) else 500
"""Ids per IN list: under SQLite's limit on variables (32,766 since 3.32, 999 before)."""
NULL = "\\N"  # in COPY's text format
NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(row: tuple[Any, ...]) -> str:
    """A row in PostgreSQL's COPY text format: tab-separated, ``\\N`` for NULL."""
    parts = []
    for value in row:
        if value is None:
            parts.append(NULL)
        elif isinstance(value, bool):
            parts.append("t" if value else "f")
        else:
            text = value if type(value) is str else str(value)
            parts.append(text.translate(COPY_ESCAPES) if NEEDS_ESCAPE.search(text) else text)
    return "\t".join(parts) + "\n"


def reserve_ids(model: type[peewee.Model], count: int) -> list[int]:
    """``count`` new ids for ``model``'s rows, in increasing order.

    SQLite: the ids after the largest, safe because the write transaction holds the
    database's only write lock. PostgreSQL: taken from the table's sequence, as any
    insert would (concurrent writers get others).
    """
    if count <= 0:
        return []
    database = model._meta.database
    table = model._meta.table_name
    if is_postgres(database):
        cursor = database.execute_sql(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table, count),
        )
        return sorted(row[0] for row in cursor.fetchall())
    largest = database.execute_sql(f'SELECT MAX("id") FROM "{table}"').fetchone()[0] or 0
    return list(range(largest + 1, largest + 1 + count))


def copy_text(model: type[peewee.Model], fields: Sequence[peewee.Field], text: str) -> None:
    """PostgreSQL: ``COPY`` rows given as its text format into ``model``'s table."""
    database = model._meta.database
    names = ", ".join(f'"{f.column_name}"' for f in fields)
    statement = f'COPY "{model._meta.table_name}" ({names}) FROM STDIN'
    database.cursor().copy_expert(statement, io.StringIO(text))


def stored_form(value: Any) -> Any:
    """A value as the driver would send it, for values repeated on many rows: SQLite's
    ``sqlite3`` turns times into text with a Python function per value; done once."""
    if isinstance(value, dt.datetime | dt.date) and not is_postgres():
        return value.isoformat(" ") if isinstance(value, dt.datetime) else value.isoformat()
    return value


def _literal(value: Any) -> str | None:
    """``value`` as an SQLite literal storing exactly what binding it would; None when
    it has none here (a float, bytes, text with NUL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if type(value) is int:
        return str(value)
    if type(value) is str and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


def insert_rows(
    model: type[peewee.Model],
    fields: Sequence[peewee.Field],
    rows: Sequence[tuple[Any, ...]],
    fixed: Sequence[tuple[peewee.Field, Any]] = (),
) -> None:
    """Insert ``rows`` (stored values in the order of ``fields``) into ``model``'s table,
    each with the ``fixed`` columns' stored values, the same on every row.

    SQLite binds each value of each row anew; fixed values are written into the
    statement instead (a client row: half its cost). PostgreSQL's COPY text of the fixed
    values is formed once.
    """
    if not rows:
        return
    database = model._meta.database
    if is_postgres(database):
        fixed_text = _copy_line(tuple(value for _, value in fixed))[:-1] if fixed else ""
        tail = "\t" + fixed_text + "\n" if fixed else "\n"
        text = "".join(_copy_line(row)[:-1] + tail for row in rows)
        copy_text(model, [*fields, *(field for field, _ in fixed)], text)
        return
    literals = {field: _literal(value) for field, value in fixed}
    bound = [(field, value) for field, value in fixed if literals[field] is None]
    if bound:  # no literal: bound with each row after all
        extra = tuple(value for _, value in bound)
        rows = [row + extra for row in rows]
    written = [*fields, *(field for field, _ in bound)]
    marks = ["?"] * len(written)
    for field, literal in literals.items():
        if literal is not None:
            written.append(field)
            marks.append(literal)
    columns = ", ".join(f'"{f.column_name}"' for f in written)
    statement = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES ({", ".join(marks)})'
    database.cursor().executemany(statement, rows)


def found(query: peewee.SelectQuery, key: peewee.Field, ids: Iterable[int]) -> dict[int, Any]:
    """``{id: the rest of its row}`` for those of ``ids`` that ``query`` finds in ``key``,
    read ``ID_CHUNK`` ids at a time. The rest is the row's one other value, a tuple of
    them, or None when the query selects ``key`` alone; values as the database gives
    them (no field's ``python_value``).

    The statement is compiled once per size of chunk, its ids bound as parameters after
    the query's own (peewee renders each value of an IN list anew: 6 µs an id).
    """
    if query._order_by or query._limit or query._offset or query._group_by:
        raise ValueError("found() takes a query without ORDER BY, LIMIT or GROUP BY")
    wanted = sorted(ids)
    database = query.model._meta.database
    compiled: dict[int, tuple[str, list[Any]]] = {}
    rows: dict[int, Any] = {}
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[start : start + ID_CHUNK]
        if len(chunk) not in compiled:
            marks = peewee.SQL("(" + ", ".join([database.param] * len(chunk)) + ")")
            compiled[len(chunk)] = query.where(key.in_(marks)).sql()
        sql, params = compiled[len(chunk)]
        for row_id, *rest in database.execute_sql(sql, [*params, *chunk]):
            rows[row_id] = (rest[0] if len(rest) == 1 else tuple(rest)) if rest else None
    return rows
