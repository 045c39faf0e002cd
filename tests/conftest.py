"""Shared fixtures: both storage backends, a service context, a real daemon process."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import pytest

from billingd.control.client import ControlClient
from billingd.db.connection import open_database
from billingd.db.migrations import SCHEMA_VERSION, current_version, migrate
from billingd.db.models import ALL_MODELS, SchemaVersion
from billingd.plugins import load_plugins
from billingd.services import parties
from billingd.services.context import ServiceContext
from tests import lanes
from tests.sqlite_template import migrated_sqlite
from tests.zygote import ZYGOTE, Child

PG_ADMIN_URL = os.environ.get("BILLINGD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_configure(config: pytest.Config) -> None:
    lanes.choose(config.option.markexpr, config.getoption("--hypothesis-profile"))


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason to skip."""
    try:
        db = open_database(PG_ADMIN_URL)
        db.connect()
        db.close()
    except peewee.OperationalError as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).strip().splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    name = f"billingd_test_{uuid.uuid4().hex[:10]}"
    admin = open_database(PG_ADMIN_URL)
    admin.connect()
    admin.execute_sql(f"CREATE DATABASE {name}")
    admin.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = open_database(PG_ADMIN_URL)
    admin.connect()
    admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def _empty_postgres(db: peewee.Database) -> None:
    """Empty every table (TRUNCATE skips the audit trail's row triggers) and re-stamp."""
    if current_version(db) is None:
        migrate(db)
        return
    tables = ", ".join(m._meta.table_name for m in ALL_MODELS)
    db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    SchemaVersion.create(version=SCHEMA_VERSION)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database on each backend (the PostgreSQL half is
    in the whole suite, not the fast lane)."""
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path / "billing.db")
    url = request.getfixturevalue("pg_url")
    _empty_postgres(open_database(url))
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[peewee.Database]:
    """The models bound to an empty database, SQLite and PostgreSQL in turn."""
    database = open_database(database_url)
    yield database
    database.close()


@pytest.fixture
def acme(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    """The enterprise of docs/billing-rules.md's examples: EUR, Berlin, 19 %, numbers
    ``%num%/%year%`` from 100001, 14 days' terms."""
    return parties.add_enterprise(
        ctx,
        name="Acme",
        currency="EUR",
        timezone="Europe/Berlin",
        tax_rate=Decimal("19"),
        invoice_pattern="%num%/%year%",
        invoice_start=100001,
        payment_terms=14,
    )


@pytest.fixture(scope="session")
def loaded_plugins():  # type: ignore[no-untyped-def]
    return load_plugins({}, None)


@pytest.fixture
def ctx(db: peewee.Database, tmp_path: Path, loaded_plugins: Any) -> ServiceContext:
    return ServiceContext(actor="tester", plugins=loaded_plugins, data_dir=tmp_path / "data")


class RunningDaemon:
    """A real ``billingd serve`` process on a temporary socket and database."""

    def __init__(
        self,
        folder: Path,
        database: str,
        extra_config: str = "invoicing: manual\n",
        python: str = sys.executable,
        umask: int | None = None,
    ) -> None:
        """``extra_config`` is YAML appended to the config; by default the operator
        invoices by hand, so the scheduler does not bill contracts as they are created.
        ``python`` is the interpreter to run it with (e.g. another virtual environment's);
        ``umask`` the one it starts with (by default this process's)."""
        self.folder = folder
        self.socket = folder / "billingd.sock"
        self.config_path = folder / "billingd.yaml"
        workers = "" if "document_workers:" in extra_config else "document_workers: 1\n"
        self.config_path.write_text(
            f"database: {database}\nsocket: {self.socket}\ndata_dir: {folder / 'data'}\n"
            + workers  # one renderer process to start, not one per core
            + extra_config,
            encoding="utf-8",
        )
        self.config_path.chmod(0o600)  # it may hold secrets (billingd.hardening)
        self.log = (folder / "daemon.log").open("w")
        argv = ["serve", "--config", str(self.config_path)]
        self.process: subprocess.Popen[bytes] | Child
        if ZYGOTE.serves(python):  # forked from the imports made once (tests/zygote.py)
            log = folder / "daemon.log"
            self.process = ZYGOTE.start("billingd", argv, log, log, append=True, umask=umask)
        else:
            self.process = subprocess.Popen(
                [python, "-m", "billingd", *argv],
                stdout=self.log,
                stderr=subprocess.STDOUT,
                preexec_fn=None if umask is None else lambda: os.umask(umask),
            )
        self._client: ControlClient | None = None
        self.wait_ready()

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited early:\n{self.log_text()}")
            try:
                with ControlClient(self.socket, timeout=5) as probe:
                    probe.call("status")
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"daemon did not become ready:\n{self.log_text()}")

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.folder / "daemon.log").read_text()

    def call(self, method: str, **params: Any) -> Any:
        if self._client is None:
            self._client = ControlClient(self.socket)
        return self._client.call(method, **params)

    def raw(self, frame: bytes) -> dict[str, Any]:
        """Send one raw frame on a new connection and return the decoded reply."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.socket))
            sock.sendall(frame)
            return json.loads(sock.makefile("rb").readline())

    def stop(self) -> int:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if not self.log.closed:
            self.log.close()
        return self.process.returncode


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory path: Unix socket paths are limited to about 100 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="bd-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def daemon(short_dir: Path) -> Iterator[RunningDaemon]:
    """A real daemon on SQLite (its database copied from the migrated template)."""
    running = RunningDaemon(short_dir, migrated_sqlite(short_dir / "billing.db"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def module_daemon() -> Iterator[RunningDaemon]:
    """One daemon on SQLite shared by a module's tests: for tests that only read, are
    refused, or use names of their own, so that none depends on what another wrote."""
    folder = Path(tempfile.mkdtemp(prefix="bd-", dir="/tmp"))
    running = RunningDaemon(folder, migrated_sqlite(folder / "billing.db"))
    yield running
    running.stop()
    shutil.rmtree(folder, ignore_errors=True)


def billingctl(socket_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real billingctl command with ``--json`` (forked from the imports made
    once, tests/zygote.py, where it may)."""
    argv = ["--socket", str(socket_path), "--json", *args]
    if ZYGOTE.serves():
        return ZYGOTE.run("billingctl", argv, timeout=60)
    program = shutil.which("billingctl")
    command = [program] if program else [sys.executable, "-m", "billingd.ctl"]
    return subprocess.run([*command, *argv], capture_output=True, text=True, timeout=60)


def billingctl_ok(daemon: RunningDaemon, *args: str) -> Any:
    """``billingctl --json …`` that must succeed; its parsed output."""
    result = billingctl(daemon.socket, *args)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return json.loads(result.stdout)


def audit_length(daemon: RunningDaemon) -> int:
    """The audit trail's length, without the document queue's entries (``document.*``):
    documents of earlier calls are rendered after their commits, at any moment."""
    events = daemon.call("audit.list", limit=5000)
    return sum(not e["event"].startswith("document.") for e in events)
