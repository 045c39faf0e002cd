"""Open the configured database: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import peewee

from billingd.db.faults import PostgresqlDatabase, SqliteDatabase
from billingd.db.models import database_proxy

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    "busy_timeout": 30000,
    "cache_size": -16384,  # KiB: 16 MiB of pages per connection, taken as they are read
}


POSTGRES_OPTIONS = "-c jit=off"
"""Session settings: no JIT compilation. billingd's statements are short; a large one
(an import's commit) spent more compiling (1.1 s) than running (docs/storage.md)."""
POSTGRES_LIVENESS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
"""How long a connection waits for a server that does not answer: a connection attempt
10 s; an open connection whose peer vanished without closing it (a cable, a failover)
is found dead by TCP keepalives within about a minute instead of hanging (issue 14)."""


class _DecimalSum:
    """SQLite's exact sum of decimal text (its SUM would add binary floats)."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: Any) -> None:
        if value is not None:
            self.total = (self.total or Decimal(0)) + Decimal(str(value))

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


def decimal_sum(column: peewee.Node) -> peewee.Node:
    """The exact sum of a decimal text column, for aggregate queries on either backend;
    read the result with ``Decimal(str(value))`` (None when no row was summed)."""
    if is_postgres():
        return peewee.fn.SUM(column.cast("NUMERIC"))
    return peewee.fn.decimal_sum(column)


class DatabaseURLError(ValueError):
    """The database URL names no backend billingd supports."""


def make_database(url: str) -> peewee.Database:
    """Build (not connect) the peewee database for a ``sqlite:///`` or ``postgresql://`` URL
    (one that recovers from lost connections: :mod:`billingd.db.faults`)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if path.startswith("//"):
            path = path[1:]
        if not path or path == "/":
            raise DatabaseURLError(f"sqlite URL needs a file path: {url!r}")
        if path != "/:memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        else:
            path = ":memory:"
        database = SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
        database.register_aggregate(_DecimalSum, "decimal_sum", 1)
        return database
    if parsed.scheme in ("postgresql", "postgres"):
        return PostgresqlDatabase(
            unquote(parsed.path.lstrip("/")) or "postgres",
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname,
            port=parsed.port or 5432,
            options=POSTGRES_OPTIONS,
            **POSTGRES_LIVENESS,
        )
    raise DatabaseURLError(
        f"unsupported database URL {url!r}: use sqlite:////path/file.db or postgresql://user@host/db"
    )


def open_database(url: str) -> peewee.Database:
    """Build the database for a URL and bind the models to it."""
    database = make_database(url)
    database_proxy.initialize(database)
    return database


def is_postgres(database: peewee.Database | None = None) -> bool:
    db = database or database_proxy.obj
    if isinstance(db, peewee.DatabaseProxy):  # the models' proxy: what it stands for
        db = db.obj
    return isinstance(db, peewee.PostgresqlDatabase)


_undo = threading.local()


def on_rollback(undo: Callable[[], None]) -> None:
    """Run ``undo`` if the current write transaction rolls back (e.g. remove a file it wrote)."""
    stack = getattr(_undo, "stack", None)
    if stack is not None:
        stack.append(undo)


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """One all-or-nothing write (R-TX-1).

    On SQLite the transaction starts ``IMMEDIATE`` so that writers queue up front
    instead of failing on upgrade; PostgreSQL serialises on row locks instead.
    Nested calls become savepoints. Files written inside undo themselves through
    :func:`on_rollback` when the whole transaction fails.
    """
    db = database_proxy.obj
    if db.transaction_depth() > 0:
        with db.atomic():
            yield
        return
    _undo.stack = []
    try:
        with db.atomic() if is_postgres(db) else db.atomic("IMMEDIATE"):
            yield
    except BaseException:
        for undo in reversed(_undo.stack):
            with contextlib.suppress(OSError):
                undo()
        raise
    finally:
        _undo.stack = None


def read_transaction() -> contextlib.AbstractContextManager[Any]:
    """A consistent snapshot for a read of several queries; takes no write lock."""
    return database_proxy.obj.atomic()


def close_thread_connection() -> None:
    """Close this thread's database connection, if open (a worker thread's last call)."""
    with contextlib.suppress(Exception):
        if not database_proxy.obj.is_closed():
            database_proxy.obj.close()
