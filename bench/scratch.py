"""Scratch databases for the benchmarks: SQLite in a folder, or a fresh PostgreSQL database."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from billingd.db.connection import open_database


def _admin(url: str, sql: str) -> None:
    database = open_database(url)
    database.connect()
    database.execute_sql(sql)
    database.close()


@contextlib.contextmanager
def scratch_database(folder: Path, postgres: str | None = None) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in ``folder``, or, given a PostgreSQL
    server URL, a new database next to the one it names, dropped afterwards."""
    if postgres is None:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    name = f"billingd_bench_{uuid.uuid4().hex[:8]}"
    _admin(postgres, f"CREATE DATABASE {name}")
    try:
        yield f"{postgres.rsplit('/', 1)[0]}/{name}"
    finally:
        _admin(postgres, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
