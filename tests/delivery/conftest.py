"""Fixtures for delivery: a real SMTP server and a daemon on the test clock that mails it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningDaemon
from tests.delivery.smtp_sink import SmtpSink
from tests.sqlite_template import migrated_sqlite


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def mail_daemon(folder: Path, sink: SmtpSink, extra: str = "", **smtp: Any) -> RunningDaemon:
    """A daemon on SQLite and the test clock, invoicing by hand, mailing ``sink``."""
    config = "invoicing: manual\nclock: test\n" + sink.config(**smtp) + extra
    return RunningDaemon(folder, migrated_sqlite(folder / "billing.db"), config)


@pytest.fixture
def mailing(short_dir: Path, smtp: SmtpSink) -> Iterator[RunningDaemon]:
    running = mail_daemon(short_dir, smtp)
    yield running
    running.stop()


def seed_client(daemon: RunningDaemon, **client: Any) -> dict[str, Any]:
    """An enterprise (EUR, 19 %) and a client receiving invoices by email."""
    enterprise = daemon.call(
        "enterprise.add", name="Acme Telecom", currency="EUR", tax_rate="19",
        iban="DE89370400440532013000", bic="COBADEFFXXX", email="billing@acme.test",
    )  # fmt: skip
    fields = {"name": "Jane Doe", "email": "jane@client.test", "send_email": True, **client}
    return daemon.call("client.add", enterprise=enterprise["id"], **fields)


def wait_until(check: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


def outbox_states(daemon: RunningDaemon, **filters: Any) -> list[str]:
    return [m["state"] for m in daemon.call("outbox.list", **filters)]
