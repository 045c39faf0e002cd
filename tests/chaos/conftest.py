"""Fixtures of the chaos suite: a PostgreSQL server of the test's own, a small disk, and
the doctor's verdict after each fault."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.servers import PrivatePostgres, SmallDisk, postgres_bin
from tests.conftest import RunningDaemon
from tests.control.test_doctor_restore import billingd


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PrivatePostgres]:
    """One private PostgreSQL per test process, which its tests stop, restart and cut
    off at will (never the machine's own on 5432, which parallel tests share)."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    try:
        server = PrivatePostgres()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"cannot start a private PostgreSQL: {exc}")
    yield server
    server.close()


@pytest.fixture
def pg(pg_server: PrivatePostgres) -> str:
    """The URL of a new, empty database on the private server (started if a test left
    it stopped)."""
    if not pg_server.reachable():
        pg_server.start()
    name = f"chaos_{uuid.uuid4().hex[:10]}"
    pg_server.sql(f"CREATE DATABASE {name}")
    return pg_server.url.rsplit("/", 1)[0] + f"/{name}"


def small_disk(size: int, at: Path | None = None) -> SmallDisk:
    """A tmpfs of ``size`` bytes, or a skip naming why there can be none."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        return SmallDisk(size, at)
    except OSError as exc:
        pytest.skip(str(exc))


def assert_doctor_clean(daemon: RunningDaemon) -> dict:
    """``billingd doctor --json`` on the daemon's config finds no problem (exit 0)."""
    done = billingd("doctor", "--config", str(daemon.config_path), "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, json.dumps(report["problems"][:10], indent=1)
    return report
