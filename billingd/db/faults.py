"""Faults of the database and the disk, told apart from bugs (issue 14).

Two kinds, each a refusal with a code of its own (not -32603 internal error):

- :class:`~billingd.errors.DatabaseUnavailable`: PostgreSQL restarted, stopped or
  unreachable, a connection cut (``pg_terminate_backend``, a failover), an I/O error
  on the SQLite file;
- :class:`~billingd.errors.DiskFull`: no space left for the database (SQLite's file,
  PostgreSQL's server) or for a document.

:func:`fault_of` finds one in any exception, whatever layer raised it (peewee wraps
the driver's error; raw cursors raise the driver's own). The database classes
:func:`billingd.db.connection.make_database` builds recover by themselves
(:class:`Recovering`): every thread of the daemon holds a connection of its own
(peewee keeps one per thread), so each replaces its connection when it finds it
broken, and new connections are tried with backoff while the server is away.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee

from billingd.errors import DatabaseFault, DatabaseUnavailable, DiskFull

try:  # the PostgreSQL driver (a dependency; absent only in a stripped install)
    import psycopg2
    from psycopg2 import extensions as pg_extensions
except ImportError:  # pragma: no cover
    psycopg2 = None

BACKOFF_SECONDS = (0.25, 5.0)
"""The pause before the next attempt to connect after one failed: the first, doubling
up to the second. Meanwhile calls are refused at once as database unavailable."""
SQLITE_FULL = 13
SQLITE_IOERR = 10
SQLITE_CANTOPEN = 14
NEARLY_FULL = 1 << 20
"""Free bytes under which an I/O error writing a file is taken for a full disk."""
PG_UNAVAILABLE = {"57P01", "57P02", "57P03"}  # admin or crash shutdown, starting up
PG_DISK_FULL = "53100"
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
READS = ("SELECT", "SHOW", "PRAGMA")
"""Statements read again on a new connection when the old one turned out lost."""


class Unreachable(peewee.OperationalError):
    """A connection not tried: the last attempt failed moments ago (backoff)."""


class TransactionLost(peewee.OperationalError):
    """SQLite ended the transaction by itself (it may, on a full disk or an I/O error):
    no statement of it may run outside it, in autocommit."""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: peewee keeps the driver's error as ``orig``; an error
    raised while handling another keeps it as its context."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 16:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "orig", None)
        todo.extend(
            e
            for e in (wrapped, current.__cause__, current.__context__)
            if isinstance(e, BaseException)
        )


def database_name() -> str:
    """The bound database as messages name it: the SQLite file, or PostgreSQL's
    ``host:port/database`` (never its password)."""
    from billingd.db.models import database_proxy

    database = database_proxy.obj
    if isinstance(database, peewee.PostgresqlDatabase):
        params = database.connect_params
        return f"PostgreSQL at {params.get('host')}:{params.get('port')}/{database.database}"
    return f"the database {getattr(database, 'database', '?')}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _nearly_full(path: str | None) -> bool:
    if not path:
        return False
    folder = Path(path).parent
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL
    except OSError:
        return False


def _disk_full(what: str) -> DiskFull:
    return DiskFull(
        f"disk full: no space left for {what}; nothing written; free some space, "
        "billingd goes on by itself",
        path=what,
    )


def _unavailable(reason: str) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        f"database unavailable: {database_name()}: {reason}; billingd reconnects by "
        "itself, try again shortly",
        detail=reason,
    )


def _of_driver(exc: BaseException) -> DatabaseFault | None:
    """A fault from one error of the driver or the operating system, or None."""
    if isinstance(exc, DatabaseFault):
        return exc
    if isinstance(exc, Unreachable):
        return _unavailable(_first_line(exc))
    if isinstance(exc, TransactionLost):
        name = database_name()
        full = _nearly_full(name.removeprefix("the database "))
        return _disk_full(name) if full else _unavailable(_first_line(exc))
    if psycopg2 is not None and isinstance(exc, psycopg2.Error):
        code = getattr(exc, "pgcode", None)
        if code == PG_DISK_FULL:
            return _disk_full(f"{database_name()} (its server's disk)")
        lost = isinstance(exc, psycopg2.InterfaceError) or (
            isinstance(exc, psycopg2.OperationalError)
            and (code is None or code.startswith("08") or code in PG_UNAVAILABLE)
        )
        return _unavailable(_first_line(exc)) if lost else None
    if isinstance(exc, sqlite3.Error):
        primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        name = database_name()
        path = name.removeprefix("the database ")
        if primary == SQLITE_FULL or (primary == SQLITE_IOERR and _nearly_full(path)):
            return _disk_full(name)
        if primary in (SQLITE_IOERR, SQLITE_CANTOPEN):
            return _unavailable(_first_line(exc))
        return None
    if isinstance(exc, OSError) and exc.errno in NO_SPACE:
        where = Path(exc.filename).parent if exc.filename else "a file"
        return _disk_full(f"the directory {where} ({exc.strerror})")
    return None


def fault_of(exc: BaseException) -> DatabaseFault | None:
    """The database or disk fault behind ``exc``, or None when it is something else
    (a bug, a refusal, a conflict)."""
    for cause in _causes(exc):
        fault = _of_driver(cause)
        if fault is not None:
            return fault
    return None


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> str:
    """Log a background worker's failure; the error as reported. A fault of the database
    or the disk is expected and recurs while it lasts: one warning line; anything else
    is logged with its traceback."""
    fault = fault_of(exc)
    if fault is not None:
        logger.warning("%s: %s", what, fault.message)
        return fault.message
    logger.exception("%s", what)
    return f"{type(exc).__name__}: {exc}"


class Outage:
    """When a new connection may be tried: at once while the database answers; after a
    failed attempt, after a pause that doubles (:data:`BACKOFF_SECONDS`). Shared by
    every thread of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures = 0
        self.retry_at = 0.0
        self.reason = ""

    def check(self) -> None:
        """Raise :class:`Unreachable` while the pause after a failed attempt lasts."""
        wait = self.retry_at - time.monotonic()
        if wait > 0:
            raise Unreachable(f"{self.reason} (next attempt in {wait:.1f} s)")

    def failed(self, exc: BaseException) -> None:
        first, longest = BACKOFF_SECONDS
        with self._lock:
            self.failures += 1
            self.reason = _first_line(exc)
            pause = min(first * 2 ** min(self.failures - 1, 16), longest)
            self.retry_at = time.monotonic() + pause

    def cleared(self) -> None:
        if self.failures:
            with self._lock:
                self.failures = 0
                self.retry_at = 0.0


class Recovering:
    """Mixed into peewee's database classes: each thread's connection is replaced when it
    turns out broken, and connecting backs off while the server is away.

    A connection is checked before each transaction's BEGIN and each statement outside
    a transaction: one the server closed, or one a failed rollback left inside
    a transaction, is dropped and a new one opened. A statement outside a transaction
    that finds its connection lost (the server restarted since its last use) reads
    again once on a new connection. Inside a transaction the loss is raised (the server
    rolled the transaction back): the caller's transaction fails as a whole, as any.
    """

    outage: Outage

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.outage = Outage()
        super().__init__(*args, **kwargs)

    # -- the connection ---------------------------------------------------------------------

    def connect(self, reuse_if_open: bool = False) -> bool:
        self.outage.check()
        try:
            opened = super().connect(reuse_if_open)  # type: ignore[misc]
        except peewee.OperationalError as exc:
            if fault_of(exc) is not None:
                self.outage.failed(exc)
            raise
        self.outage.cleared()
        return opened

    def _broken(self, conn: Any) -> bool:
        """Whether a connection must not be used for a new transaction."""
        if isinstance(conn, sqlite3.Connection):
            return conn.in_transaction  # a rollback failed (full disk): still inside one
        if conn.closed:
            return True
        return conn.get_transaction_status() != pg_extensions.TRANSACTION_STATUS_IDLE

    def _lost(self) -> bool:
        """Whether this thread's connection is closed by the other end (PostgreSQL)."""
        conn = self._state.conn  # type: ignore[attr-defined]
        return conn is not None and not isinstance(conn, sqlite3.Connection) and bool(conn.closed)

    def discard(self) -> None:
        """Drop this thread's connection without a word to the server (which rolls back
        whatever it held); the next statement opens a new one. Outside transactions only."""
        state = self._state  # type: ignore[attr-defined]
        conn = state.conn
        state.reset()
        if conn is not None:
            with contextlib.suppress(Exception):  # it is gone already
                conn.close()

    def _fresh(self) -> None:
        """Before a statement outside a transaction or a BEGIN: drop a broken connection."""
        state = self._state  # type: ignore[attr-defined]
        if not state.closed and self._broken(state.conn):
            self.discard()

    # -- statements -------------------------------------------------------------------------

    def _again_if_lost(self, run: Any) -> Any:
        """Run ``run()`` outside a transaction; once more on a new connection when the
        old one turned out closed by the server (nothing was done on it)."""
        self._fresh()
        try:
            return run()
        except (peewee.OperationalError, peewee.InterfaceError):
            if self.transaction_depth() or not self._lost():  # type: ignore[attr-defined]
                raise
            self.discard()
        return run()

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        if self.transaction_depth():  # type: ignore[attr-defined]
            conn = self._state.conn  # type: ignore[attr-defined]
            if isinstance(conn, sqlite3.Connection) and not conn.in_transaction:
                raise TransactionLost("the transaction was rolled back after an error")
            return super().execute_sql(sql, params)  # type: ignore[misc]
        if not sql.lstrip()[:6].upper().startswith(READS):  # a write: never twice
            self._fresh()
            return super().execute_sql(sql, params)  # type: ignore[misc]
        return self._again_if_lost(lambda: super(Recovering, self).execute_sql(sql, params))

    def begin(self, *args: Any, **kwargs: Any) -> None:
        self._again_if_lost(lambda: super(Recovering, self).begin(*args, **kwargs))

    def rollback(self) -> None:
        """Roll back; a connection that cannot (the server closed it, SQLite ended the
        transaction itself on a full disk) is dropped instead, which leaves nothing
        behind, and the error that caused the rollback is the one raised."""
        try:
            super().rollback()  # type: ignore[misc]
        except Exception:
            if self.transaction_depth():  # type: ignore[attr-defined]
                raise
            self.discard()


class SqliteDatabase(Recovering, peewee.SqliteDatabase):
    """SQLite with :class:`Recovering`."""


class PostgresqlDatabase(Recovering, peewee.PostgresqlDatabase):
    """PostgreSQL with :class:`Recovering`."""
