"""``billingd doctor`` and ``billingd restore`` as an operator runs them: exit codes for
monitoring, 80 columns, ``--json``; a restore refused while the database is in use or
without ``--force``, and checked after it is done."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billingd.db.connection import open_database
from billingd.db.migrations import SCHEMA_VERSION
from billingd.db.models import Enterprise, LedgerEntry, SchemaVersion
from billingd.services.context import ServiceContext
from tests.conftest import PG_ADMIN_URL, RunningDaemon, _empty_postgres
from tests.services.test_doctor import busy_books
from tests.sqlite_template import migrated_sqlite
from tests.zygote import ZYGOTE


def billingd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``billingd`` command (forked from the zygote unless ``env`` is given)."""
    if env is None and ZYGOTE.serves():
        return ZYGOTE.run("billingd", list(args), timeout=120)
    command = [sys.executable, "-m", "billingd", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def write_config(folder: Path, database: str) -> Path:
    config = folder / "billingd.yaml"
    config.write_text(
        f"database: {database}\nsocket: {folder / 'billingd.sock'}\ndata_dir: {folder / 'data'}\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def site(tmp_path: Path, loaded_plugins: Any) -> Path:
    """A config whose SQLite database holds busy books (tests/services/test_doctor.py)."""
    database = open_database(migrated_sqlite(tmp_path / "billing.db"))
    busy_books(ServiceContext(actor="tester", plugins=loaded_plugins, data_dir=tmp_path / "data"))
    database.close()
    return write_config(tmp_path, f"sqlite:///{tmp_path / 'billing.db'}")


def assert_fits(text: str) -> None:
    assert text and max(len(line) for line in text.splitlines()) <= 80, text


def bad_write(config: Path, amount: str = "5.00") -> None:
    """One ledger entry written beside the services: R-LED-1 breaks for client 1."""
    database = open_database(f"sqlite:///{config.parent / 'billing.db'}")
    LedgerEntry.create(client=1, kind="x", amount=Decimal(amount), currency="EUR")
    database.close()


# -- doctor ---------------------------------------------------------------------------------


def test_doctor_exit_0_on_clean_books_1_with_problems_in_80_columns(site: Path) -> None:
    clean = billingd("doctor", "--config", str(site))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert_fits(clean.stdout)
    assert clean.stdout.splitlines()[-1] == "no problems found"
    assert clean.stdout.splitlines()[0].startswith("ledger       ok")

    bad_write(site)
    found = billingd("doctor", "--config", str(site))
    assert found.returncode == 1
    assert_fits(found.stdout)
    assert "ledger       1 problem" in found.stdout
    assert "  client 1: ledger balance 93.00 != open balances 88.00" in found.stdout
    assert found.stdout.splitlines()[-1] == "1 problem found"


def test_doctor_json_and_one_check(site: Path) -> None:
    bad_write(site)
    report = json.loads(billingd("doctor", "--config", str(site), "--json").stdout)
    assert report["ok"] is False
    assert report["problems"] == [
        {
            "check": "ledger",
            "rule": "R-LED-1",
            "subject": "client 1",
            "message": "ledger balance 93.00 != open balances 88.00 − unapplied credit 0.00 "
            "= 88.00",
        }
    ]
    assert [c["name"] for c in report["checks"]] == [
        "ledger", "invoices", "numbering", "allocations", "documents", "outbox", "runs",
    ]  # fmt: skip
    only = billingd("doctor", "--config", str(site), "--json", "--check", "runs")
    assert only.returncode == 0
    assert [c["name"] for c in json.loads(only.stdout)["checks"]] == ["runs"]


def test_doctor_exit_2_when_it_cannot_check(tmp_path: Path) -> None:
    missing = billingd("doctor", "--config", str(write_config(tmp_path, "sqlite:////nowhere/b.db")))
    assert missing.returncode == 2
    assert missing.stdout.strip() == "billingd doctor: no database at /nowhere/b.db"

    database = open_database(migrated_sqlite(tmp_path / "billing.db"))
    SchemaVersion.create(version=SCHEMA_VERSION + 1)
    database.close()
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'billing.db'}")
    newer = billingd("doctor", "--config", str(config), "--json")
    assert newer.returncode == 2
    assert f"schema version {SCHEMA_VERSION + 1}" in json.loads(newer.stdout)["error"]


def test_doctor_beside_a_running_daemon(daemon: RunningDaemon) -> None:
    enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR")
    client = daemon.call("client.add", name="A", enterprise=enterprise["id"])
    daemon.call("invoice.amount", client=client["id"], date="2026-03-02", amount="119.00")
    result = billingd("doctor", "--config", str(daemon.config_path))
    assert result.returncode == 0, result.stdout


# -- restore, SQLite ------------------------------------------------------------------------


def enterprises(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as copy:
        return [name for (name,) in copy.execute("SELECT name FROM enterprise ORDER BY id")]


def test_restore_into_a_fresh_place_then_check(site: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup.db"
    assert billingd("backup", "--config", str(site), "-o", str(backup)).returncode == 0
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    config = write_config(fresh, f"sqlite:///{fresh / 'billing.db'}")
    result = billingd("restore", "--config", str(config), str(backup))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"restored {backup}"
    assert_fits(result.stdout.split("\n", 1)[1])  # the report under the path given
    assert result.stdout.splitlines()[-1] == "no problems found"
    assert enterprises(fresh / "billing.db") == ["Acme"]


def test_restore_replaces_only_with_force(site: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup.db"
    billingd("backup", "--config", str(site), "-o", str(backup))
    target = site.parent / "billing.db"
    database = open_database(f"sqlite:///{target}")
    Enterprise.update(name="Changed after the backup").execute()
    database.close()

    refused = billingd("restore", "--config", str(site), str(backup))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"billingd: a database is at {target} already; --force replaces it"
    )
    assert enterprises(target) == ["Changed after the backup"]

    stale = target.with_name("billing.db-wal")
    stale.write_bytes(b"a log of the database being replaced")
    restored = billingd("restore", "--config", str(site), str(backup), "--force")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert enterprises(target) == ["Acme"]
    assert not stale.exists()
    assert not target.with_name("billing.db.restoring").exists()


def test_restore_refused_while_a_daemon_answers(daemon: RunningDaemon, tmp_path: Path) -> None:
    daemon.call("enterprise.add", name="Acme", currency="EUR")
    backup = tmp_path / "backup.db"
    billingd("backup", "--config", str(daemon.config_path), "-o", str(backup))
    refused = billingd("restore", "--config", str(daemon.config_path), str(backup), "--force")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"billingd: a daemon answers on {daemon.socket}; stop it first"
    )
    assert daemon.call("enterprise.list")[0]["name"] == "Acme"


def test_restore_refused_while_a_process_has_the_database_open(site: Path, tmp_path: Path) -> None:
    """No daemon on the socket, but another process (a daemon of another config, a
    script) holds the file: replacing it under that process would lose its writes."""
    backup = tmp_path / "backup.db"
    billingd("backup", "--config", str(site), "-o", str(backup))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
         "c.execute('SELECT 1 FROM enterprise').fetchall(); print('open', flush=True); "
         "sys.stdin.read()", str(site.parent / "billing.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        refused = billingd("restore", "--config", str(site), str(backup), "--force")
    finally:
        holder.communicate("")
    assert refused.returncode == 1
    assert f"is open in process {holder.pid}" in refused.stderr


def test_restore_refuses_what_is_no_billingd_backup(site: Path, tmp_path: Path) -> None:
    def refused(backup: Path) -> str:
        result = billingd("restore", "--config", str(site), str(backup), "--force")
        assert result.returncode == 1, result.stdout
        return result.stderr.strip()

    assert refused(tmp_path / "nothing.db") == f"billingd: no backup at {tmp_path / 'nothing.db'}"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    assert refused(garbage).startswith(f"billingd: {garbage} is no")
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as plain:
        plain.execute("CREATE TABLE t (a)")
    assert refused(other).startswith(f"billingd: {other} is no billingd backup")
    newer = tmp_path / "newer.db"
    billingd("backup", "--config", str(site), "-o", str(newer))
    with contextlib.closing(sqlite3.connect(newer)) as copy, copy:
        copy.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, '')")
    assert "schema version 99, newer than this billingd's" in refused(newer)
    assert enterprises(site.parent / "billing.db") == ["Acme"]


def test_restore_of_a_backup_with_problems_exits_3(site: Path, tmp_path: Path) -> None:
    bad_write(site)
    backup = tmp_path / "backup.db"
    billingd("backup", "--config", str(site), "-o", str(backup))
    result = billingd("restore", "--config", str(site), str(backup), "--force")
    assert result.returncode == 3
    assert "ledger       1 problem" in result.stdout


def test_restore_postgresql_without_pg_restore_is_a_clean_error(tmp_path: Path) -> None:
    backup = tmp_path / "backup.dump"
    backup.write_bytes(b"PGDMP")
    config = write_config(tmp_path, "postgresql://postgres@127.0.0.1:5432/none")
    result = billingd("restore", "--config", str(config), str(backup), env={"PATH": "/nowhere"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "billingd: pg_restore is not installed; install the PostgreSQL client tools"
    )


# -- restore, PostgreSQL --------------------------------------------------------------------


@pytest.fixture
def scratch_pg() -> Iterator[str]:
    """An empty PostgreSQL database of its own (no schema), dropped afterwards."""
    admin = open_database(PG_ADMIN_URL)
    name = f"billingd_restore_{uuid.uuid4().hex[:10]}"
    admin.execute_sql(f"CREATE DATABASE {name}")
    admin.close()
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    admin = open_database(PG_ADMIN_URL)
    admin.execute_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.mark.slow
def test_restore_postgresql_through_pg_restore(
    pg_url: str, scratch_pg: str, tmp_path: Path, loaded_plugins: Any
) -> None:
    database = open_database(pg_url)
    _empty_postgres(database)
    busy_books(ServiceContext(actor="tester", plugins=loaded_plugins, data_dir=tmp_path / "data"))
    database.close()
    backup = tmp_path / "backup.dump"
    source = write_config(tmp_path, pg_url)
    assert billingd("backup", "--config", str(source), "-o", str(backup)).returncode == 0

    (tmp_path / "fresh").mkdir()
    target = write_config(tmp_path / "fresh", scratch_pg)
    first = billingd("restore", "--config", str(target), str(backup))
    # the documents stayed in the first data directory, where their rows say they are
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines()[-1] == "no problems found"

    again = billingd("restore", "--config", str(target), str(backup))
    assert again.returncode == 1
    assert "holds a billingd schema already; --force replaces it" in again.stderr

    session = open_database(scratch_pg)
    session.connect()
    try:
        busy = billingd("restore", "--config", str(target), str(backup), "--force")
    finally:
        session.close()
    assert busy.returncode == 1
    assert "1 other session(s) use the database" in busy.stderr

    forced = billingd("restore", "--config", str(target), str(backup), "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    database = open_database(scratch_pg)
    assert [e.name for e in Enterprise.select()] == ["Acme"]
    database.close()
