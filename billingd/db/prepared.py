"""SELECTs compiled to SQL once, then run with bound values: the hot reads' fast path.

Building a peewee query and compiling it to SQL costs far more than SQLite takes to
answer it (a paged client list: ~0.25 ms of compiling for ~0.03 ms of SQLite). A
:class:`PreparedSelect` builds its query once per database kind and variant with
:class:`Slot` placeholders where the values go, keeps the SQL text, and on each
call binds the values and converts the columns the way peewee's ``.tuples()``
would (decimals, dates, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import peewee

from billingd.db.models import database_proxy


@dataclass(frozen=True, slots=True)
class _Bound:
    """The marker a :class:`Slot` leaves in the compiled parameter list."""

    name: str


class Slot(peewee.ColumnBase):
    """A named placeholder for a value bound when a :class:`PreparedSelect` runs."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __sql__(self, ctx: peewee.Context) -> peewee.Context:
        return ctx.value(_Bound(self.name), converter=False)


Converter = Callable[[Any], Any]
Conversions = tuple[tuple[int, Converter], ...]
"""(column index, ``python_value``) for the columns whose stored value needs converting."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    conversions: Conversions

    def bind(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(values[p.name] if isinstance(p, _Bound) else p for p in self.params)


NATIVE_FIELDS = (peewee.AutoField, peewee.IntegerField, peewee.CharField, peewee.TextField)
"""Field classes whose values both drivers already return as the Python type."""


def _converter(node: peewee.Node) -> Converter | None:
    field = node.unwrap()
    if isinstance(field, peewee.ForeignKeyField):
        field = field.rel_field
    if not isinstance(field, peewee.Field) or type(field) in NATIVE_FIELDS:
        return None
    return field.python_value


def _conversions(query: peewee.Select) -> Conversions:
    """The selected fields' ``python_value``, as ``.tuples()`` applies them, skipping the
    columns whose stored value is the value (integers, text, and what is not a field)."""
    converters = (_converter(column) for column in query.selected_columns)
    return tuple((i, to_python) for i, to_python in enumerate(converters) if to_python)


def _to_python(conversions: Conversions, row: tuple[Any, ...]) -> tuple[Any, ...]:
    values = list(row)
    for index, to_python in conversions:
        value = values[index]
        if value is not None:
            values[index] = to_python(value)
    return tuple(values)


class PreparedSelect:
    """``build(*variant)`` returns a SELECT using :class:`Slot`; its SQL is kept per
    database class and variant (e.g. whether an optional filter is present)."""

    def __init__(self, build: Callable[..., peewee.Select]) -> None:
        self._build = build
        self._compiled: dict[tuple[type, Hashable], _Compiled] = {}

    def _for(self, database: peewee.Database, variant: tuple[Hashable, ...]) -> _Compiled:
        key = (type(database), variant)
        compiled = self._compiled.get(key)
        if compiled is None:
            query = self._build(*variant)
            sql, params = query.sql()
            compiled = _Compiled(sql, tuple(params), _conversions(query))
            self._compiled[key] = compiled
        return compiled

    def tuples(self, variant: tuple[Hashable, ...] = (), **values: Any) -> list[tuple[Any, ...]]:
        """Every row, each converted column by column."""
        database = database_proxy.obj
        compiled = self._for(database, variant)
        rows = database.execute_sql(compiled.sql, compiled.bind(values)).fetchall()
        if not compiled.conversions:
            return rows
        return [_to_python(compiled.conversions, row) for row in rows]

    def first(self, variant: tuple[Hashable, ...] = (), **values: Any) -> tuple[Any, ...] | None:
        rows = self.tuples(variant, **values)
        return rows[0] if rows else None


def _is_postgres(database: peewee.Database) -> bool:
    return isinstance(database, peewee.PostgresqlDatabase)


def _stored(field: peewee.Field, data: dict[str, Any]) -> Any:
    """A field's value in a model instance's data, as the driver receives it; the
    field's default when the instance has none."""
    if field.name in data:
        value = data[field.name]
    else:
        value = field.default() if callable(field.default) else field.default
    return field.db_value(value)


ROWS_PER_STATEMENT = 500
"""Rows of one PostgreSQL multi-row INSERT (well under its 65,535 parameters)."""


class PreparedInsert:
    """INSERTs of every column of a model, the SQL built once per database kind: the
    write path's counterpart of :class:`PreparedSelect`.

    Rows are unsaved model instances (their defaults already applied) or plain
    dicts of field values; each value goes through its field's ``db_value``, as
    ``Model.create`` would send it, without peewee compiling a query per row.
    """

    def __init__(self, model: type[peewee.Model]) -> None:
        self.model = model
        self.fields = [f for f in model._meta.sorted_fields if not f.primary_key]
        self._sql: dict[type, str] = {}

    def _for(self, database: peewee.Database) -> str:
        sql = self._sql.get(type(database))
        if sql is None:
            meta = self.model._meta
            columns = ", ".join(f'"{f.column_name}"' for f in self.fields)
            marks = ", ".join([database.param] * len(self.fields))
            sql = f'INSERT INTO "{meta.table_name}" ({columns}) VALUES ({marks})'
            if _is_postgres(database):
                sql += f' RETURNING "{meta.primary_key.column_name}"'
            self._sql[type(database)] = sql
        return sql

    def row(self, data: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_stored(field, data) for field in self.fields)

    def save(self, instance: peewee.Model) -> peewee.Model:
        """Insert an unsaved instance and give it its new id."""
        database = database_proxy.obj
        cursor = database.execute_sql(self._for(database), self.row(instance.__data__))
        new_id = cursor.fetchone()[0] if _is_postgres(database) else cursor.lastrowid
        setattr(instance, self.model._meta.primary_key.name, new_id)
        instance._dirty.clear()
        return instance

    def many(self, rows: list[dict[str, Any]]) -> None:
        """Insert rows whose ids nobody needs: SQLite with one ``executemany``,
        PostgreSQL with one multi-row statement per page (its driver's
        ``executemany`` would go to the server once per row)."""
        if not rows:
            return
        database = database_proxy.obj
        sql = self._for(database).partition(" RETURNING ")[0]
        values = [self.row(data) for data in rows]
        with peewee.__exception_wrapper__:  # the driver's errors as peewee's, as execute_sql
            if not _is_postgres(database):
                database.cursor().executemany(sql, values)
                return
            head, _, marks = sql.partition(" VALUES ")
            cursor = database.cursor()
            for start in range(0, len(values), ROWS_PER_STATEMENT):
                page = values[start : start + ROWS_PER_STATEMENT]
                flat = [value for row in page for value in row]
                cursor.execute(f"{head} VALUES {', '.join([marks] * len(page))}", flat)


class PreparedUpdate:
    """An UPDATE of some columns of one row by id, the SQL built once per database kind."""

    def __init__(self, model: type[peewee.Model], *fields: peewee.Field) -> None:
        self.model = model
        self.fields = fields
        self._sql: dict[type, str] = {}

    def _for(self, database: peewee.Database) -> str:
        sql = self._sql.get(type(database))
        if sql is None:
            meta = self.model._meta
            sets = ", ".join(f'"{f.column_name}" = {database.param}' for f in self.fields)
            key = meta.primary_key.column_name
            sql = f'UPDATE "{meta.table_name}" SET {sets} WHERE "{key}" = {database.param}'
            self._sql[type(database)] = sql
        return sql

    def save(self, instance: peewee.Model) -> None:
        """Write the instance's values of these fields to its row."""
        database = database_proxy.obj
        values = tuple(_stored(field, instance.__data__) for field in self.fields)
        database.execute_sql(self._for(database), (*values, instance.get_id()))


class PreparedWrite:
    """An UPDATE built with :class:`Slot` placeholders, compiled once per database kind
    and variant (e.g. how many ids it names); :meth:`execute` returns the rows changed."""

    def __init__(self, build: Callable[..., peewee.Query]) -> None:
        self._build = build
        self._compiled: dict[tuple[type, Hashable], _Compiled] = {}

    def execute(self, variant: tuple[Hashable, ...] = (), **values: Any) -> int:
        database = database_proxy.obj
        key = (type(database), variant)
        compiled = self._compiled.get(key)
        if compiled is None:
            sql, params = self._build(*variant).sql()
            compiled = _Compiled(sql, tuple(params), ())
            self._compiled[key] = compiled
        return database.execute_sql(compiled.sql, compiled.bind(values)).rowcount


def id_slots(count: int) -> list[Slot]:
    """``count`` placeholders ``id0``, ``id1``, ... for an ``IN`` list."""
    return [Slot(f"id{n}") for n in range(count)]


def id_values(ids: list[int]) -> dict[str, int]:
    """The values of :func:`id_slots` placeholders."""
    return {f"id{n}": value for n, value in enumerate(ids)}
