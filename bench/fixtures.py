"""What the benchmarks share: scratch databases (SQLite in a folder, or a fresh PostgreSQL
database) and the hot reads with the data they read."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from billingd.db.connection import open_database

HOT_READS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("status", {}),
    ("client.list", {"limit": 20}),
    ("invoice.show", {"invoice": 1}),
)
"""The simple reads the latency target is about: method names with their parameters."""


def seed_hot_reads(call: Callable[..., Any], clients: int = 200, invoices: int = 20) -> None:
    """An enterprise, ``clients`` clients and ``invoices`` invoices (invoice 1 among them),
    made through ``call(method, **params)``: a socket client's or a handler caller."""
    enterprise = call("enterprise.add", name="Bench GmbH", currency="EUR", start=1)
    ids = [
        call("client.add", name=f"Client {n:04d}", enterprise=enterprise["id"])["id"]
        for n in range(clients)
    ]
    call("invoice.amount", client=ids[0], date="2026-01-05", amount="119.00", count=invoices)


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
